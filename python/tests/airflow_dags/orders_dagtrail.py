"""A DAG of three tasks recording into dagtrail: extract, a transform that
fails on purpose, and a load that runs all the same (trigger rule
all_done). Written for Airflow 2 and 3 alike."""

from __future__ import annotations

import logging

import pendulum

try:
    from airflow.sdk import dag, task  # Airflow 3
except ImportError:
    from airflow.decorators import dag, task  # Airflow 2

from dagtrail.airflow import phase

log = logging.getLogger("orders_dagtrail")


def fetch_orders():
    return [
        {"order_id": 1, "customer": "Zoë", "amount": 12.5},
        {"order_id": 2, "customer": "Ana", "amount": 7.0},
        {"order_id": 3, "customer": "Kofi", "amount": -3.0},
    ]


def check_amounts(orders):
    for order in orders:
        if order["amount"] < 0:
            raise ValueError(f"order {order['order_id']} has a negative amount: {order['amount']}")


@dag(
    dag_id="orders_dagtrail",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["orders", "dagtrail-test"],
    description="Orders of the day, recorded in dagtrail",
    default_args={"owner": "data-team", "retries": 0},
)
def orders_dagtrail():
    @task
    def extract():
        with phase("extract") as ph:
            orders = fetch_orders()
            ph.write(orders)
            ph.log("INFO", f"fetched {len(orders)} orders")
            ph.message = f"extracted {len(orders)} orders"
        return len(orders)

    @task
    def transform(count):
        with phase("transform", capture_logs=True) as ph:
            log.info("checking %d orders", count)
            orders = fetch_orders()
            ph.write([o for o in orders if o["amount"] >= 0])
            check_amounts(orders)

    @task(trigger_rule="all_done")
    def load():
        with phase("load") as ph:
            ph.write([{"table": "orders", "loaded": 2}])

    transform(extract()) >> load()


orders_dagtrail()
