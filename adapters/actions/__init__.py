"""Action delivery adapters: sandboxed template rendering (jinja2) and the senders of each action kind.

``rendering``: the sandbox; ``http``: HTTP requests (and signed webhook events through the webhook sender);
``email``: SMTP; ``nats``: NATS publish; ``senders``: one ``ActionSender`` choosing by kind.
"""
