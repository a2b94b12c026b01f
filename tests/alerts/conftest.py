from tests.alertkit import alertmanager_with_hook, webhook_receiver  # noqa: F401
