"""OmniCX: a customer data platform with a built-in omnichannel service desk."""

__version__ = "0.1.0"
