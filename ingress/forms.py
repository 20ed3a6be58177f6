from django import forms


class DomainForm(forms.Form):
    name = forms.CharField(
        label="Domain", max_length=253, widget=forms.TextInput(attrs={"placeholder": "www.example.com"})
    )
