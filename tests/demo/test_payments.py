"""The stand-in payments service answers while up, refuses while down, and comes back on
the same port."""

from __future__ import annotations

from andon.demo.payments import Payments


def test_payments_go_down_and_come_back_on_the_same_port() -> None:
    payments = Payments()
    payments.start()
    try:
        assert payments.up and payments.pay()
        assert payments.address == f"127.0.0.1:{payments.port}"
        payments.stop()
        assert not payments.up and not payments.pay(timeout=0.5)
        payments.start()
        assert payments.pay()
    finally:
        payments.stop()
