"""Delivery of platform events to the world: webhooks over HTTP, signed as Standard Webhooks says.

``signing``: ``whsec_`` secrets and ``v1`` signatures; ``guard``: where deliveries may go (the SSRF guard);
``http``: the sender; ``events``: which CloudEvents types can be subscribed to, and the payload sent for each.
"""
