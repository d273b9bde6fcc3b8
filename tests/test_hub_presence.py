"""What the hub tells presence: users per party, however many sessions each has, who came and
who left."""

from party_engine.backends.broker_memory import MemoryBroker
from party_engine.gateway.hub import Hub, Member


class Silent(Member):
    def deliver(self, frame, publications) -> None:
        pass

    def send_prepared(self, frame: bytes) -> None:
        pass

    def tell_state(self, state, frame: bytes) -> None:
        pass


async def test_the_hub_counts_users_and_reports_who_came_and_whose_last_session_left():
    broker = MemoryBroker()
    await broker.connect()
    hub = Hub(broker, tick_seconds=0.005, loop_share=0.5)
    phone, tab, other = Silent(), Silent(), Silent()
    await hub.join("p", phone, "u1")
    await hub.join("p", tab, "u1")
    await hub.join("p", other, "u2")
    assert hub.local_count("p") == 2
    assert hub.take_arrivals() == {"p": {"u1", "u2"}}
    assert hub.take_arrivals() == {}

    await hub.leave("p", phone)
    assert hub.take_departures() == {}  # u1 is still here through the tab
    await hub.leave("p", tab)
    await hub.leave("p", other)
    await hub.join("p", other, "u2")  # came back before presence took the departures
    assert hub.take_departures() == {"p": {"u1"}}
    assert hub.take_arrivals() == {"p": {"u2"}}  # reported again: its expiry may be near
    assert hub.take_departures() == {}
    await hub.join("p", phone, "u3")
    await hub.leave("p", phone)  # gone before presence took the arrival
    assert hub.take_arrivals() == {}
    assert hub.take_departures() == {"p": {"u3"}}
    await hub.leave("p", other)
    assert hub.local_count("p") == 0 and hub.party_ids() == []
    await broker.close()
