"""The public site: a home page that says what Kansha is, edited in Wagtail."""

from django.db import models
from django.utils import translation
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page

from rewards.selectors import ambassador_program


class HomePage(Page):
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    max_count = 1
    # The site's public pages live under the home page; the apps below cms never name it.
    subpage_types = ["cms.AmbassadorPage", "advocates.ConsentPage", "advocates.OptOutPage"]

    class Meta:
        verbose_name = "home page"


class AmbassadorPage(Page):
    """The public ambassador program page: tiers and perks from the catalog, how to join, and
    links to the consent and opt-out pages. One page per language, like those pages."""

    language = models.CharField(max_length=8, choices=[("en", "English"), ("ja", "日本語")],
                                default="en")
    intro = RichTextField(blank=True)
    how_to_join = RichTextField(blank=True)
    consent_page = models.ForeignKey("wagtailcore.Page", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    opt_out_page = models.ForeignKey("wagtailcore.Page", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")

    content_panels = [*Page.content_panels, FieldPanel("language"), FieldPanel("intro"),
                      FieldPanel("how_to_join"), FieldPanel("consent_page"),
                      FieldPanel("opt_out_page")]
    parent_page_types = ["cms.HomePage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = "ambassador page"

    def serve(self, request, *args, **kwargs):
        # The page's own language, whatever the browser asks for: its wording, the perks'
        # kinds and the money are rendered in it.
        with translation.override(self.language):
            response = super().serve(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        return response

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context.update(ambassador_program(language=self.language))
        return context


__all__ = ["AmbassadorPage", "HomePage", "models"]
