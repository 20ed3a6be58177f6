from django import forms

from deployments.forms import AsksBeforeReplacing
from environments.models import Environment, Membership


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=30, help_text="Lowercase letters, digits and dashes, e.g. dev-ana")
    kind = forms.ChoiceField(choices=Environment.Kind.choices, initial=Environment.Kind.PERSONAL)
    description = forms.CharField(max_length=300, required=False)
    copy_from = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Nothing: start empty",
        help_text="Copies its services (repository, branch, folder, variables) and deploys them.",
    )  # fmt: skip
    ttl_hours = forms.IntegerField(
        label="Time to live (hours)", required=False, min_value=1, max_value=24 * 90,
        help_text="For a personal environment: stopped and removed after this long.",
    )  # fmt: skip

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["copy_from"].queryset = environments


class MemberForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class ServiceDeployForm(AsksBeforeReplacing):
    repository_url = forms.CharField(label="Repository URL", max_length=500)
    name = forms.CharField(label="Service name", max_length=30)
    branch = forms.CharField(
        max_length=200, required=False, help_text="Empty: the repository's default branch"
    )
    start_command = forms.CharField(
        max_length=1000, required=False, help_text="Empty: the Procfile's web: line, or detected"
    )
    subdirectory = forms.CharField(max_length=300, required=False)


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the environment's name to confirm", max_length=30)
