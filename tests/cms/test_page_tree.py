"""The public pages hang under the home page, which lists them (advocates never names cms)."""

import pytest

from advocates.models import ConsentPage, OptOutPage
from cms.models import AmbassadorPage, HomePage


@pytest.mark.django_db
def test_the_home_page_takes_the_public_pages_and_nothing_else():
    home = HomePage.objects.get()  # created by cms 0002
    for page_type in (ConsentPage, OptOutPage, AmbassadorPage):
        assert page_type.can_create_at(home), page_type
    assert not HomePage.can_create_at(home)
