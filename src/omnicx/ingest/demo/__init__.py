"""A realistic, reproducible demo data set: Segment-shaped calls for an online shop.

OmniShop sells small home appliances and gadgets in mainland China (about 60% of the
people, CNY, WeChat) and in the US and UK (about 40%, USD). Every person leaves
identifiers on several channels and the calls stitch them together the way real ones do:

* web: anonymous ``page`` views and ``Product Viewed`` with a browser ``anonymousId``
  (1-3 browsers per person), then an ``identify`` that ties the browser to a CRM
  ``userId`` (``crm-000123``, ~70% of people) or, for guests, to an email and phone;
* app (OmniShop 3.2.1 on iOS or Android): ``screen``/``track`` calls with
  ``context.device.id``, either logged in or anonymous followed by an ``alias``;
* commerce: ``Product Added``, ``Order Completed`` (order id, total, CNY/USD, products),
  ``Order Shipped``, ``Invoice Requested``, ``Warranty Registered`` (``warranty_ends``)
  and ``After-sales Inquiry`` (a few unhappy customers send 3+ within 30 days);
* service channels: ``WeChat Message Received`` (``context.channel`` "wechat", openid and
  sometimes unionid in ``context.externalIds``, Chinese text), ``Call Completed``
  (``context.traits.phone``) and ``Email Received`` (``context.traits.email``).

Phones and emails come in several spellings (``138 0013 8000``, ``+86 138-0013-8000``,
``Wang.Wei@163.com `` …) so that normalisation is exercised. Deliberate data problems:
~2% of people are a second, unlinked profile of an earlier person that shares only a
typo'd name (plus city, gender, birthday: no identifier) for probabilistic matching; a few
calls carry a junk ``anonymousId`` ("null", "undefined" …) next to a valid ``userId``; a
few calls are sent twice with the same ``messageId`` (retries).

Everything is derived from ``random.Random(seed)`` and an anchor time (by default the
moment the demo is generated, so a fresh install has recent activity to show): timestamps
fall in the 180 days before it, and message ids are ``demo-<n>`` in time order.
"""

from omnicx.ingest.demo.journeys import demo_calls

__all__ = ["demo_calls"]
