"""A step that asks before a destructive action, and works without JavaScript.

The button posts to the action's own address; without `confirmed=yes` the
answer is a page that says what will happen, with the same form again to
confirm and a way back. Nothing changes until the second post.
"""

from django.shortcuts import render


def ask(request, *, title: str, question: str, button: str, back: str, fields: dict | None = None):
    """The confirmation page, or None when this post is the confirmation."""
    if request.POST.get("confirmed") == "yes":
        return None
    context = {
        "title": title,
        "question": question,
        "button": button,
        "action": request.path,
        "back": back,
        "fields": fields or {},
    }
    return render(request, "deployments/confirm.html", context)
