"""WeChat Official Account: the signed callback (plaintext, compatible and safe modes),
messages and follower events onto the log, replies through the customer-service API."""
