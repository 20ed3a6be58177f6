from django import forms

from deployments.forms import AsksBeforeReplacing


class GitHubDeployForm(AsksBeforeReplacing):
    """How to deploy one picked repository; the repository itself is in the URL."""

    branch = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"list": "branches"}))
    subdirectory = forms.CharField(max_length=300, required=False, help_text="For a monorepo")
    name = forms.CharField(label="Service name", max_length=30)
    environment = forms.CharField(max_length=30, initial="production")
