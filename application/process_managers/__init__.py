"""The orchestrator's process managers, one job each: pipeline steps, exports, dead-letter forwarding and
compensations. ``application.orchestrator`` drives them over one read of the log per pass."""
