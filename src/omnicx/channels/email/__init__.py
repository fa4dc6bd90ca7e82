"""Email: each mailbox a channel; mail in by SMTP (our listener) or IMAP polling,
replies out by SMTP, threaded by Message-ID, In-Reply-To and References."""
