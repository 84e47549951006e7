"""Alerts: the bot's important events sent to Telegram and webhooks (Slack, Discord, any JSON
receiver), never in the way of trading. See docs/ALERTS.md.

* :mod:`.config`: the ``alerts:`` config section;
* :mod:`.message`: what one alert says (title, text, the event's figures) per channel format;
* :mod:`.channels`: the Telegram and webhook senders;
* :mod:`.notifier`: :class:`~perpdex.alerts.notifier.Notifier`, the queue, dedupe, rate limit,
  retries and counters, subscribed to the runtime's event bus;
* :mod:`.summary`: the daily summary.
"""
