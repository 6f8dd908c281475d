"""Staff find ingested people and mentions with the admin's search box."""

import pytest

from advocates.schemas import MentionIn
from advocates.services import mentions_ingest
from tests.factories import mention_item
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(user_in_role(SOCIAL_STAFF))
    return client


@pytest.fixture
def ingested():
    """Written the way every entry point writes them: in bulk, not one save() at a time."""
    items = [
        mention_item(1, text="The hojicha latte at Kansha Coffee is unreal",
                     author_id="u-aiko", author_handle="@aiko_drinks", author_name="Aiko Tanaka"),
        mention_item(2, text="Best cortado in Brooklyn", author_id="u-ren",
                     author_handle="@ren_ito", author_name="Ren Ito"),
    ]
    mentions_ingest(items=[MentionIn.model_validate(i) for i in items], source="api",
                    detect=False)


@pytest.mark.parametrize(("url", "query", "found", "not_found"), [
    ("/admin/snippets/advocates/mention/", "HOJICHA", "hojicha latte", "cortado"),
    ("/admin/snippets/advocates/mention/", "@ren_ito", "cortado", "hojicha"),
    ("/admin/snippets/advocates/socialidentity/", "aiko", "@aiko_drinks", "@ren_ito"),
    ("/admin/snippets/advocates/advocate/", "Ren", "Ren Ito", "Aiko Tanaka"),
])
@pytest.mark.usefixtures("ingested")
def test_search_finds_bulk_ingested_rows(staff_client, url, query, found, not_found):
    response = staff_client.get(url, {"q": query})

    assert response.status_code == 200
    page = response.content.decode()
    assert found in page
    assert not_found not in page
