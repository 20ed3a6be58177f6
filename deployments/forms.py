from django import forms


class DeployForm(forms.Form):
    repository_url = forms.CharField(
        label="Repository URL", max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "https://github.com/you/app.git"}),
    )  # fmt: skip
    name = forms.CharField(label="Service name", max_length=30)
    branch = forms.CharField(max_length=200, initial="main")
    subdirectory = forms.CharField(max_length=300, required=False, help_text="For a monorepo")
    environment = forms.CharField(max_length=30, initial="production")
