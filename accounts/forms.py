from django import forms

from deployments.forms import AsksBeforeReplacing, ChoosesEnvironment


class GitHubDeployForm(AsksBeforeReplacing, ChoosesEnvironment):
    """How to deploy one picked repository; the repository itself is in the URL."""

    branch = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"list": "branches"}))
    subdirectory = forms.CharField(max_length=300, required=False, help_text="For a monorepo")
    name = forms.CharField(label="Service name", max_length=30)
    field_order = ["replace", "branch", "subdirectory", "name", "environment", "new_environment"]
