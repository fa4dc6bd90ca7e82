"""The phone channel: a PBX's CTI webhook (calls ringing, answered, hung up, their
recordings and transcripts) into the log, the timeline and the desk."""
