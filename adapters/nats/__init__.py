"""NATS JetStream: the relay that publishes the event log as CloudEvents, and the consumers that read it."""
