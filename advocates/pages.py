"""What the public consent and opt-out pages do (their models are in advocates/models.py).

Each page exists once per language; its UI strings come from `STRINGS` by the page's
language, the editable words (intro, terms) from the page itself. Nothing changes on a GET:
link checkers and mail scanners follow links, so every answer is a POST (with CSRF).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from advocates.counters import client_ip, rate_limit_take
from advocates.models import PUBLIC_PAGE_VIEWS, OptOutPage
from advocates.policies import PLATFORM_CHOICES
from advocates.services.consent import (
    advocate_opt_out,
    advocate_opt_out_by_handle,
    consent_by_token,
    consent_grant,
    consent_revoke,
    opt_out_token_read,
)

STRINGS = {
    "en": {
        "your_post": "Your post",
        "yes": "Yes, you may share it",
        "no": "No, please don't",
        "granted": "Thank you! We may now share your post. You can withdraw here at any time.",
        "revoked": "Understood. We will not share your post, and will take it down if we "
                   "already did.",
        "invalid": "This link is not valid or has expired.",
        "handle": "Your handle",
        "platform": "Where",
        "stop": "Stop all contact",
        "confirm_stop": "Stop all replies, reshares and messages to",
        "stopped": "Done. We will not reply to, reshare or message you again.",
        "too_many": "Too many requests from your address. Please try again in an hour.",
        "terms_version": "Terms version",
        "status": "Current answer",
        "valid_until": "Your yes is valid until",
        "expired": "Your yes expired on this day; we have taken down what we shared and will "
                   "not share your posts again unless you agree to a new request",
        "about_title": "How consent works",
        "about": [
            "We never reshare a post without asking its author first.",
            "When we would like to share one of your posts, we ask in a reply to it (or in a "
            "message). The reply carries a personal link to this page that shows your post "
            "and the terms below, where you answer yes or no. On most networks you can also "
            "reply #yes or #no.",
            "You can change your answer at any time with the same link; if you withdraw, we "
            "take down what we shared.",
            "Without that personal link there is nothing to answer here: we have not asked "
            "you about a post, or the link was cut short.",
        ],
        "opt_out": "To stop all replies, reshares and messages from us, use the opt-out page.",
    },
    "ja": {
        "your_post": "あなたの投稿",
        "yes": "はい、紹介してもかまいません",
        "no": "いいえ、お断りします",
        "granted": "ありがとうございます！投稿をご紹介させていただきます。"
                   "このページからいつでも取り消せます。",
        "revoked": "承知しました。投稿は紹介しません。すでに紹介済みの場合は削除いたします。",
        "invalid": "このリンクは無効か、有効期限が切れています。",
        "handle": "ハンドル名",
        "platform": "サービス",
        "stop": "すべての連絡を停止する",
        "confirm_stop": "次のアカウントへの返信・シェア・メッセージをすべて停止します：",
        "stopped": "停止しました。今後こちらから返信・シェア・メッセージを"
                   "お送りすることはありません。",
        "too_many": "このアドレスからのリクエストが多すぎます。1時間後にもう一度お試しください。",
        "terms_version": "規約バージョン",
        "status": "現在の回答",
        "valid_until": "同意の有効期限",
        "expired": "同意の有効期限が切れました。シェアした投稿は削除し、改めてお伺いして同意を"
                   "いただくまで、投稿をシェアすることはありません。有効期限",
        "about_title": "投稿のご紹介への同意について",
        "about": [
            "投稿者ご本人の同意なく、投稿を公式アカウントでシェアすることはありません。",
            "投稿をご紹介したいときは、その投稿への返信（またはメッセージ）でお伺いします。"
            "返信には、このページへのあなた専用のリンクが付いており、投稿と下記の規約を"
            "確認して「はい」「いいえ」でお答えいただけます。多くのサービスでは「#はい」"
            "「#いいえ」と返信していただくこともできます。",
            "回答は同じリンクからいつでも変更できます。取り消された場合は、シェアした投稿を"
            "削除します。",
            "専用リンクがない場合、このページでお答えいただくことはありません"
            "（まだお伺いしていないか、リンクが途中で切れています）。",
        ],
        "opt_out": "返信・シェア・メッセージをすべて停止するには、配信停止ページをご利用ください。",
    },
}


def _strings(page) -> dict[str, Any]:
    return STRINGS.get(page.language, STRINGS["en"])


def _render(page, request, status: int = 200, **extra):
    context = page.get_context(request)
    context.update(strings=_strings(page), **extra)
    return TemplateResponse(request, page.get_template(request), context, status=status)


def consent_page_serve(page, request):
    """GET ?token=…: show the post and the terms; POST answer=yes|no records the answer.

    Without a token (the ambassador page links here, people type the address) the page
    explains how consent works and shows the terms; a token that matches nothing is a 404.
    """
    token = request.POST.get("token") or request.GET.get("token") or ""
    if not token and request.method != "POST":
        return _render(page, request, about=True, opt_out_page=_opt_out_page(page))
    record = consent_by_token(token)
    if record is None:
        return _render(page, request, status=404, invalid=True)
    message = error = ""
    if request.method == "POST":
        answer = request.POST.get("answer")
        evidence = {"ip": request.META.get("REMOTE_ADDR", ""),
                    "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200]}
        try:
            if answer == "yes":
                record = consent_grant(record=record, method="page", evidence=evidence,
                                       terms_version=page.terms_version,
                                       language=page.language)
                message = _strings(page)["granted"]
            elif answer == "no":
                record = consent_revoke(record=record, method="page", evidence=evidence)
                message = _strings(page)["revoked"]
            else:
                error = "answer must be yes or no"
        except ValidationError as exc:
            error = "; ".join(exc.messages)
    return _render(page, request, status=400 if error else 200, record=record, token=token,
                   message=message, error=error)


def _opt_out_page(page):
    """The opt-out page in the consent page's language (else any), for the explanation."""
    pages = OptOutPage.objects.live().public()
    return pages.filter(language=page.language).first() or pages.first()


class OptOutForm(forms.Form):
    platform = forms.ChoiceField(choices=[(v, label) for v, label in PLATFORM_CHOICES
                                          if v != "sandbox"] + [("sandbox", "Sandbox")])
    handle = forms.CharField(max_length=200)


OPT_OUT_WINDOW_SECONDS = 60 * 60


def _opt_out_by_handle_allowed(request) -> bool:
    """Opting out by handle takes no proof, so it is rate-limited per client address
    (`KANSHA_OPT_OUT_MAX_PER_HOUR`, default 10): one address cannot opt out a list of
    handles. The signed link is proof of its own and is not limited."""
    return rate_limit_take(scope="opt-out-handle", ip=client_ip(request),
                           limit=getattr(settings, "KANSHA_OPT_OUT_MAX_PER_HOUR", 10),
                           window_seconds=OPT_OUT_WINDOW_SECONDS)


def opt_out_page_serve(page, request):
    """A signed ?token= link confirms with one POST; otherwise the visitor gives handle and
    platform. The answer is the same whether or not we know the handle."""
    strings = _strings(page)
    token = request.POST.get("token") or request.GET.get("token") or ""
    advocate = opt_out_token_read(token) if token else None
    if token and advocate is None:
        return _render(page, request, status=404, invalid=True, form=OptOutForm())
    if request.method == "POST":
        if advocate is not None:
            advocate_opt_out(advocate=advocate, source="page", evidence={"via": "link"})
            return _render(page, request, done=True, message=strings["stopped"])
        if not _opt_out_by_handle_allowed(request):
            response = _render(page, request, status=429, too_many=True, form=OptOutForm())
            response["Retry-After"] = str(OPT_OUT_WINDOW_SECONDS)
            return response
        form = OptOutForm(request.POST)
        if form.is_valid():
            advocate_opt_out_by_handle(platform=form.cleaned_data["platform"],
                                       handle=form.cleaned_data["handle"])
            return _render(page, request, done=True, message=strings["stopped"])
        return _render(page, request, status=400, form=form)
    return _render(page, request, form=OptOutForm(), advocate=advocate, token=token)


def public_page_views_register() -> None:
    """Give the page models their views (see `advocates.models.PUBLIC_PAGE_VIEWS`)."""
    PUBLIC_PAGE_VIEWS.update(consent=consent_page_serve, opt_out=opt_out_page_serve)
