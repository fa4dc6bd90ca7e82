"""Web chat: the embeddable widget, its WebSocket, signed visitors and the transcript."""
