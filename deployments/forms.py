from django import forms


class AsksBeforeReplacing(forms.Form):
    """A deploy form that, when the name deploys another repository, asks before replacing it."""

    # Shown once a service of that name deploys another repository: ticked, it is replaced.
    replace = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def ask_to_replace(self, question: str) -> None:
        self.fields["replace"].widget = forms.CheckboxInput()
        self.fields["replace"].label = "Yes, replace it"
        self.add_error("replace", question)


class ChoosesEnvironment(forms.Form):
    """The environment a deploy goes to: picked from the person's own environments (and those
    shared with them), or named anew on purpose, so a typo never makes an environment nobody
    asked for. Cleaned, `environment` is the Environment picked or the new name."""

    environment = forms.ChoiceField(label="Environment")
    new_environment = forms.CharField(
        label="New environment's name", max_length=30, required=False,
        help_text="Only when you pick a new environment above",
    )  # fmt: skip
    NEW = "new"

    def __init__(self, *args, environments, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.environments = {str(e.pk): e for e in environments}
        choices = [
            (pk, e.name if e.owner_id == user.pk else f"{e.name} (shared by {e.owner.email or e.owner})")
            for pk, e in self.environments.items()
        ]
        self.fields["environment"].choices = [*choices, (self.NEW, "A new environment…")]
        named = [pk for pk, e in self.environments.items() if e.name == "production"]
        self.fields["environment"].initial = (named or list(self.environments) or [self.NEW])[0]
        if not self.environments:
            self.fields["new_environment"].initial = "production"

    def clean(self):
        data = super().clean()
        picked = data.get("environment")
        if picked == self.NEW:
            name = (data.get("new_environment") or "").strip()
            if not name:
                self.add_error("new_environment", "Name the new environment.")
            elif name in {e.name for e in self.environments.values()}:
                self.add_error("new_environment", f"You have {name} already: pick it from the list.")
            data["environment"] = name
        elif picked:
            data["environment"] = self.environments[picked]
        data.pop("new_environment", None)
        return data


class DeployForm(AsksBeforeReplacing, ChoosesEnvironment):
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
    field_order = ["replace", "repository_url", "name", "branch", "start_command", "subdirectory",
                   "environment", "new_environment"]  # fmt: skip


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
