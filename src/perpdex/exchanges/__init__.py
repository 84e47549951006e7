"""Exchange integrations. Everything that knows an exchange's protocol lives below this package."""
