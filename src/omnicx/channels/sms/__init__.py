"""SMS channels: Twilio-shaped numbers (inbound webhook, REST sends, delivery status),
Alibaba Cloud SMS for notifications in mainland China, and an offline sink."""
