"""The dashboard's Tokens page: make a token (shown once), see and revoke them."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from api import tokens as token_actions
from api.models import Token


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="m3o CLI")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires after (days)", help_text="Empty: never."
    )


@login_required
def tokens(request):
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            _, created = token_actions.create_token(
                request.user, form.cleaned_data["name"], form.cleaned_data["expires_in_days"]
            )
        except token_actions.TokenError as exc:
            form.add_error("expires_in_days", str(exc))
        else:
            form = TokenForm()
    context = {
        "form": form,
        # Rendered, never redirected to: the token must not travel in a URL or a session.
        "created": created,
        "tokens": token_actions.usable_tokens(request.user),
        "site": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "api/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def revoke(request, token_id: int):
    # Someone else's token is not found, whatever its state.
    get_object_or_404(Token, pk=token_id, user=request.user)
    try:
        token = token_actions.revoke_token(request.user, token_id)
    except token_actions.TokenError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Token {token.name} ({token.prefix}...) revoked.")
    return redirect("api-tokens")
