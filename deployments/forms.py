from django import forms


class DeployForm(forms.Form):
    repository_url = forms.CharField(
        label="Repository URL", max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "https://github.com/you/app.git"}),
    )  # fmt: skip
    name = forms.CharField(label="Service name", max_length=30)
    branch = forms.CharField(
        max_length=200, required=False, help_text="Empty: the repository's default branch"
    )
    start_command = forms.CharField(
        max_length=1000, required=False, help_text="Empty: the Procfile's web: line, or detected"
    )
    subdirectory = forms.CharField(max_length=300, required=False, help_text="For a monorepo")
    environment = forms.CharField(max_length=30, initial="production")


class VariableForm(forms.Form):
    key = forms.CharField(
        max_length=100, label="Name",
        error_messages={
            "required": "Give the variable a name.",
            "max_length": "The name is too long: %(limit_value)d characters at most (it has %(show_value)d).",
        },
    )  # fmt: skip
    value = forms.CharField(required=False, max_length=32000, widget=forms.TextInput)
    secret = forms.BooleanField(required=False, help_text="A secret is never shown again after saving.")


class PromoteForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=None, empty_label=None, label="Promote to")

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = environments
