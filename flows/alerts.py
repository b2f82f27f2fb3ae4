"""Someone is told when things go wrong: Prefect automations that post to a webhook.

    python -m flows.alerts --webhook https://hooks.example.com/anime     # (make alerts WEBHOOK=...) once per server
    python -m flows.alerts --remove                                      # takes them off again

Against the Prefect server in PREFECT_API_URL (default the local one, `make prefect-server`), this saves a webhook
notification block (`anime-alerts`: a JSON POST `{"subject": ..., "body": ..., "source": "anime"}`) and two
automations that send through it:

- `anime: pipeline run failed`: any run of the `pipeline` flow (the nightly deployment's or one started by hand)
  that ends Failed or Crashed, one message per run, naming the run, its state message (the stage and its exit code)
  and its page in the UI;
- `anime: label sync failing`: `--label-sync-failures` (default 3) failed or crashed `label-sync` runs within
  `--within-minutes` (default: that many sync intervals of `flows.label_sync_minutes`, plus one): a sync refused
  again and again (a reset Label Studio, another server's URL: labeling/pull.py refuses with exit 2), or a server
  that stays down past the retries.

Running it again replaces the block and both automations (same names): change the URL or the threshold that way.
The server's own trigger and action services evaluate them; nothing here has to keep running.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_API = "http://127.0.0.1:4200/api"
BLOCK = "anime-alerts"
PIPELINE_FAILED = "anime: pipeline run failed"
SYNC_FAILING = "anime: label sync failing"
ENDED_BADLY = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
BODY = (
    "Flow run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}: "
    "{{ flow_run.state.message }}\n{{ flow_run|ui_url }}"
)


def _trigger(flow_name: str, threshold: int, within: datetime.timedelta):
    from prefect.events.schemas.automations import EventTrigger, Posture

    return EventTrigger(
        expect=ENDED_BADLY,
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
        posture=Posture.Reactive,
        threshold=threshold,
        within=within,
    )


def install(webhook: str, label_sync_failures: int, within: datetime.timedelta) -> dict[str, str]:
    """Save the webhook block and (re)create both automations; returns {name: id}."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore

    block = CustomWebhookNotificationBlock(
        name=BLOCK,
        url=webhook,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "anime"},
        allow_private_urls=True,  # an operator's own webhook often lives on the internal network (or loopback)
    )
    block_id = block.save(BLOCK, overwrite=True)
    plans = {
        PIPELINE_FAILED: (
            _trigger("pipeline", 1, datetime.timedelta(0)),
            "anime: pipeline run {{ flow_run.name }} {{ flow_run.state.name }}",
        ),
        SYNC_FAILING: (
            _trigger("label-sync", label_sync_failures, within),
            f"anime: the label sync failed {label_sync_failures} times in a row (last: {{{{ flow_run.name }}}})",
        ),
    }
    ids = {}
    with get_client(sync_client=True) as client:
        for name, (trigger, subject) in plans.items():
            for old in client.read_automations_by_name(name=name):
                client.delete_automation(old.id)
            action = SendNotification(block_document_id=block_id, subject=subject, body=BODY)
            core = AutomationCore(name=name, description=__doc__.split("\n")[0], trigger=trigger, actions=[action])
            ids[name] = str(client.create_automation(core))
    return ids


def remove() -> list[str]:
    """Delete both automations (the block stays, harmless); returns the names deleted."""
    from prefect.client.orchestration import get_client

    gone = []
    with get_client(sync_client=True) as client:
        for name in (PIPELINE_FAILED, SYNC_FAILING):
            for old in client.read_automations_by_name(name=name):
                client.delete_automation(old.id)
                gone.append(name)
    return gone


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--webhook", default=os.environ.get("ANIME_ALERT_WEBHOOK"), help="where the messages go (POST)")
    ap.add_argument("--label-sync-failures", type=int, default=3, help="failed syncs in a row before a message")
    ap.add_argument("--within-minutes", type=float, help="the window those failures fall in")
    ap.add_argument("--remove", action="store_true", help="delete both automations")
    a = ap.parse_args(argv)
    if not a.remove and not a.webhook:
        ap.error("--webhook (or ANIME_ALERT_WEBHOOK) is required")
    if not a.remove and (not a.webhook.startswith(("http://", "https://")) or a.label_sync_failures < 1):
        ap.error("--webhook must be an http(s) URL and --label-sync-failures at least 1")
    os.environ.setdefault("PREFECT_API_URL", DEFAULT_API)
    from flows.schedule import check_server

    check_server(os.environ["PREFECT_API_URL"], "alerts")
    if a.remove:
        print("removed:", ", ".join(remove()) or "nothing")
        return
    from flows.pipeline import settings

    minutes = a.within_minutes or settings(REPO).label_sync_minutes * (a.label_sync_failures + 1)
    ids = install(a.webhook, a.label_sync_failures, datetime.timedelta(minutes=minutes))
    for name, automation_id in ids.items():
        print(f"automation {name!r} ({automation_id}) -> {a.webhook}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
