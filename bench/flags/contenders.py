"""The flag of the benchmark in each SDK's own format, and one way per SDK to evaluate it
for many users.

The flag: *on for 50% of users, sticky on the user id, only where country is NL or DE*;
off for everyone else. Each :class:`Contender` imports its SDK and loads the flag in
:meth:`~Contender.load` (offline: a bootstrapped document or a local file, never the
network), turns the benchmark's users into its SDK's own context objects in
:meth:`~Contender.contexts` (outside the timed loop: an application builds its context
once per request, whatever it then evaluates), and hands back a *pass*: a function that
evaluates the flag once for every context and counts the users it is on for. The timed
loop is the pass itself, so each figure includes one Python ``for`` iteration and one
``if`` per evaluation (the *empty loop* anchor measures those).

Bucketing differs by design between vendors (Andon and flagd's fractional v2: MurmurHash3
of flag key + user id; flagd-core 2's v3: MurmurHash3 of the CBOR of [flag key, user id];
Unleash: MurmurHash3 of group id + user id, modulo 100; LaunchDarkly: SHA-1 of flag key,
salt and key; GrowthBook: FNV-1a of seed + id), so only Andon, flagd v2 and the
hand-written check are expected to agree user by user; the others agree on the shares.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import json
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLAG_KEY = "new-checkout"
ON_COUNTRIES = ("NL", "DE")
PERCENT = 50

# 40% of users in NL or DE (20% each), the rest spread over eight other countries.
COUNTRY_WEIGHTS = {
    "NL": 20,
    "DE": 20,
    "FR": 12,
    "BE": 8,
    "GB": 10,
    "US": 14,
    "ES": 6,
    "IT": 5,
    "PL": 3,
    "SE": 2,
}

WORKDIR = Path(tempfile.mkdtemp(prefix="andon-bench-flags-"))
"""Where the SDKs' files go (flag files, caches); removed when the process ends. Files are
not removed earlier: some SDKs' file watchers look once more after being shut down."""
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)

User = tuple[str, str]
"""(user id, country)."""

Pass = Callable[[], int]
"""Evaluates the flag for every context once; answers how many users it is on for."""


def make_users(count: int, seed: int = 20261201) -> list[User]:
    """``count`` distinct users ``user-0`` … with a country each, the same every run."""
    rng = random.Random(seed)
    countries = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()), k=count)
    return [(f"user-{index}", country) for index, country in enumerate(countries)]


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- the flag in each format ----------------------------------------------------------------

FLAGD_DOCUMENT: dict[str, Any] = {
    "flags": {
        FLAG_KEY: {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {
                "if": [
                    {"in": [{"var": "country"}, list(ON_COUNTRIES)]},
                    {"fractional": [["on", PERCENT], ["off", 100 - PERCENT]]},
                    "off",
                ]
            },
        }
    }
}
"""Andon's and flagd's format (Andon's flags *are* flagd documents): the fractional
shorthand buckets by flag key + ``targetingKey``."""

UNLEASH_FEATURES: dict[str, Any] = {
    "version": 1,
    "features": [
        {
            "name": FLAG_KEY,
            "type": "release",
            "enabled": True,
            "impressionData": False,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {
                        "rollout": str(PERCENT),
                        "stickiness": "userId",
                        "groupId": FLAG_KEY,
                    },
                    "constraints": [
                        {
                            "contextName": "country",
                            "operator": "IN",
                            "values": list(ON_COUNTRIES),
                            "inverted": False,
                            "caseInsensitive": False,
                        }
                    ],
                }
            ],
            "variants": [],
        }
    ],
}
"""Unleash's client API answer (``/api/client/features``), as its SDK bootstraps it."""

LAUNCHDARKLY_FLAGS: dict[str, Any] = {
    "flags": {
        FLAG_KEY: {
            "key": FLAG_KEY,
            "version": 1,
            "on": True,
            "variations": [True, False],
            "offVariation": 1,
            "fallthrough": {"variation": 1},
            "targets": [],
            "contextTargets": [],
            "prerequisites": [],
            "rules": [
                {
                    "id": "nl-de",
                    "clauses": [
                        {
                            "contextKind": "user",
                            "attribute": "country",
                            "op": "in",
                            "values": list(ON_COUNTRIES),
                            "negate": False,
                        }
                    ],
                    "rollout": {
                        "variations": [
                            {"variation": 0, "weight": PERCENT * 1000},
                            {"variation": 1, "weight": (100 - PERCENT) * 1000},
                        ],
                        "bucketBy": "key",
                    },
                    "trackEvents": False,
                }
            ],
            "salt": FLAG_KEY,
            "trackEvents": False,
            "trackEventsFallthrough": False,
            "clientSideAvailability": {"usingMobileKey": False, "usingEnvironmentId": False},
        }
    }
}
"""LaunchDarkly's file data source format: full flag JSON as its SDK stores it."""

GROWTHBOOK_FEATURES: dict[str, Any] = {
    FLAG_KEY: {
        "defaultValue": False,
        "rules": [
            {
                # A percentage rollout: forced on for `coverage` of the users that match.
                "condition": {"country": {"$in": list(ON_COUNTRIES)}},
                "force": True,
                "coverage": PERCENT / 100,
                "hashAttribute": "id",
                "seed": FLAG_KEY,
                "hashVersion": 2,
            }
        ],
    }
}
"""GrowthBook's features payload."""


# -- the contenders -------------------------------------------------------------------------


class UnavailableError(Exception):
    """The contender cannot run here (its SDK is not installed); the message says why."""


class Contender:
    """One way to evaluate the flag. ``role``: ``andon``, ``competitor`` (the vendors'
    SDKs as an application calls them), ``engine`` (a vendor's evaluator without its
    public API, for context) or ``anchor`` (no SDK at all)."""

    name = ""
    label = ""
    role = "competitor"
    distribution = ""
    note = ""

    def version(self) -> str:
        return version_of(self.distribution) if self.distribution else ""

    def load(self) -> None:
        """Import the SDK and load the flag, offline."""

    def contexts(self, users: list[User]) -> list[Any]:
        """The users as this SDK's evaluation contexts."""
        return [{"targetingKey": user_id, "country": country} for user_id, country in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        raise NotImplementedError

    def answers(self, contexts: list[Any]) -> list[bool]:
        """The flag's value for every context, in order (for the sanity checks)."""
        raise NotImplementedError

    def extra(self) -> dict[str, Any]:
        """Anything else worth reporting after the passes (read before :meth:`close`)."""
        return {}

    def close(self) -> None:
        """Stop the SDK's background threads, if any."""


class EmptyLoop(Contender):
    name, label, role = "empty", "empty loop (the pass without an evaluation)", "anchor"
    note = "what each figure includes besides the evaluation"

    def make_pass(self, contexts: list[Any]) -> Pass:
        def run() -> int:
            on = 0
            for context in contexts:
                if context:
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        return [False] * len(contexts)


class OpenFeatureNoOp(Contender):
    """openfeature-sdk's client over its own no-op provider (which answers the default
    without looking at anything): what the OpenFeature client costs by itself, so that
    the rows called through it (flagd, AndonProvider) can be read without it."""

    name, label, role = "openfeature-noop", "OpenFeature client, no-op provider", "anchor"
    distribution = "openfeature-sdk"
    note = "NoOpProvider: the OpenFeature client's own cost per evaluation"

    def load(self) -> None:
        try:
            from openfeature import api  # noqa: PLC0415
            from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415
            from openfeature.provider.no_op_provider import NoOpProvider  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(str(error)) from error
        self._context_class = EvaluationContext
        api.set_provider_and_wait(NoOpProvider(), domain=self.name)
        self.client = api.get_client(domain=self.name)

    def contexts(self, users: list[User]) -> list[Any]:
        make = self._context_class
        return [make(targeting_key=user_id, attributes={"country": c}) for user_id, c in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        get, key = self.client.get_boolean_value, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if get(key, False, context):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        return [False] * len(contexts)


class HandWritten(Contender):
    """The check written by hand: the set test and flagd v2's bucket, inline."""

    name, label, role = "hand", "hand-written check (set test + mmh3 bucket)", "anchor"
    distribution = "mmh3"

    def load(self) -> None:
        import mmh3  # noqa: PLC0415

        self._hash = mmh3.hash

    def make_pass(self, contexts: list[Any]) -> Pass:
        hash_, on_countries, prefix = self._hash, frozenset(ON_COUNTRIES), FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if (
                    context["country"] in on_countries
                    and (hash_(prefix + context["targetingKey"], 0, False) * 100) >> 32 < PERCENT
                ):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        hash_ = self._hash
        return [
            c["country"] in ON_COUNTRIES
            and (hash_(FLAG_KEY + c["targetingKey"], 0, False) * 100) >> 32 < PERCENT
            for c in contexts
        ]


class AndonEngine(Contender):
    name, label, role = "andon", "Andon FlagSet.resolve_boolean", "andon"
    distribution = "andon"

    def load(self) -> None:
        from andon.flags import FlagSet  # noqa: PLC0415

        self.flags = FlagSet.from_document(FLAGD_DOCUMENT)

    def make_pass(self, contexts: list[Any]) -> Pass:
        resolve, key = self.flags.resolve_boolean, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if resolve(key, False, context).value:
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        resolve = self.flags.resolve_boolean
        return [resolve(FLAG_KEY, False, context).value for context in contexts]


class AndonClient(Contender):
    """The SDK, ``andon.flags.client.FlagClient``, offline: no server (``url=None``), the
    flags from ``bootstrap=``, so no exposures are recorded (as the competitors run here
    with their events and metrics off). The headline figure."""

    name, label = "andon-client", "Andon FlagClient.boolean (SDK, offline bootstrap)"
    role = "andon"
    distribution = "andon"
    note = "FlagClient(None, bootstrap=<flagd document>); exposures off (no server)"
    URL: str | None = None

    def load(self) -> None:
        try:
            from andon.flags.client import FlagClient  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(f"andon.flags.client is not importable yet ({error})") from error
        try:
            self.client = FlagClient(
                self.URL,
                env="bench",
                token="andon_fc_bench" if self.URL else None,
                cache_dir=str(WORKDIR / f"{self.name}-cache") if self.URL else False,
                bootstrap=FLAGD_DOCUMENT,
            )
        except Exception as error:  # the SDK was being written with this benchmark
            raise UnavailableError(
                f"FlagClient did not start: {type(error).__name__}: {error}"
            ) from error
        if not self._serves_the_flag(self.client):
            self.close()
            raise UnavailableError(
                "FlagClient started, but does not serve the flag from the bootstrap"
            )

    @staticmethod
    def _serves_the_flag(client: Any) -> bool:
        # Off outside NL/DE; on for some but not all of 64 NL users.
        outside = client.boolean(FLAG_KEY, True, {"targetingKey": "probe-x", "country": "FR"})
        inside = [
            client.boolean(FLAG_KEY, False, {"targetingKey": f"probe-{i}", "country": "NL"})
            for i in range(64)
        ]
        return outside is False and any(inside) and not all(inside)

    def make_pass(self, contexts: list[Any]) -> Pass:
        boolean, key = self.client.boolean, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if boolean(key, False, context):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        boolean = self.client.boolean
        return [boolean(FLAG_KEY, False, context) for context in contexts]

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close(timeout=0.1)


class AndonClientExposures(AndonClient):
    """The same SDK as a service runs it, with a server URL, here one nothing listens on:
    the client serves the bootstrap, records an exposure per (flag, user) and its threads
    keep trying to connect and to send them (and drop what waits beyond their bound)."""

    name = "andon-client-exposures"
    label = "Andon FlagClient.boolean, exposures on"
    note = "FlagClient('http://127.0.0.1:9', ..., bootstrap=...): server unreachable"
    URL = "http://127.0.0.1:9"
    """The discard port, where nothing listens: the SDK runs as when its server is down."""

    def extra(self) -> dict[str, Any]:
        return {"exposures_dropped": getattr(self.client, "dropped", None)}


class AndonOpenFeature(Contender):
    """The SDK through openfeature-sdk (``andon.flags.openfeature.AndonProvider``), as
    flagd's in-process provider is called here: like for like with that row."""

    name, label, role = "andon-openfeature", "Andon via OpenFeature (AndonProvider)", "andon"
    distribution = "andon"
    note = "OpenFeature client over AndonProvider(FlagClient(None, bootstrap=...))"

    def load(self) -> None:
        try:
            from openfeature import api  # noqa: PLC0415
            from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415

            from andon.flags.client import FlagClient  # noqa: PLC0415
            from andon.flags.openfeature import AndonProvider  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(f"not importable ({error})") from error
        self._context_class = EvaluationContext
        self.sdk = FlagClient(None, cache_dir=False, bootstrap=FLAGD_DOCUMENT)
        self.provider = AndonProvider(self.sdk)
        api.set_provider_and_wait(self.provider, domain=self.name)
        self.client = api.get_client(domain=self.name)

    def contexts(self, users: list[User]) -> list[Any]:
        make = self._context_class
        return [make(targeting_key=user_id, attributes={"country": c}) for user_id, c in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        get, key = self.client.get_boolean_value, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if get(key, False, context):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        get = self.client.get_boolean_value
        return [get(FLAG_KEY, False, context) for context in contexts]

    def close(self) -> None:
        if hasattr(self, "sdk"):
            self.sdk.close(timeout=0.1)


class Unleash(Contender):
    name, label = "unleash", "Unleash UnleashClient.is_enabled"
    distribution = "UnleashClient"
    note = "flexibleRollout 50%, stickiness userId, constraint country IN [NL, DE]; bootstrapped"

    def load(self) -> None:
        try:
            from UnleashClient import UnleashClient  # noqa: PLC0415
            from UnleashClient.cache import FileCache  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(str(error)) from error
        cache = FileCache("andon-bench", directory=str(WORKDIR / "unleash"))
        cache.bootstrap_from_dict(UNLEASH_FEATURES)
        self.client = UnleashClient(
            url="http://127.0.0.1:9",  # never contacted: no registration, metrics or polling
            app_name="andon-bench",
            disable_metrics=True,
            disable_registration=True,
            cache=cache,
        )
        # Offline: the toggles come from the bootstrapped cache only.
        self.client.initialize_client(fetch_toggles=False)

    def contexts(self, users: list[User]) -> list[Any]:
        return [{"userId": user_id, "properties": {"country": c}} for user_id, c in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        is_enabled, key = self.client.is_enabled, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if is_enabled(key, context):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        return [self.client.is_enabled(FLAG_KEY, context) for context in contexts]

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.destroy()


class LaunchDarkly(Contender):
    name, label = "launchdarkly", "LaunchDarkly LDClient.variation"
    distribution = "launchdarkly-server-sdk"
    note = "file data source; rule country in [NL, DE] -> rollout 50/50 by key; events off"

    def load(self) -> None:
        try:
            import ldclient  # noqa: PLC0415
            from ldclient import Context  # noqa: PLC0415
            from ldclient.config import Config  # noqa: PLC0415
            from ldclient.integrations import Files  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(str(error)) from error
        self._context_class = Context
        self._path = str(WORKDIR / "launchdarkly.json")
        Path(self._path).write_text(json.dumps(LAUNCHDARKLY_FLAGS))
        config = Config(
            sdk_key="andon-bench",
            update_processor_class=Files.new_data_source(paths=[self._path]),
            send_events=False,
            diagnostic_opt_out=True,
        )
        self.client = ldclient.LDClient(config=config, start_wait=5)
        if not self.client.is_initialized():
            raise UnavailableError("LaunchDarkly's client did not initialise from the file")

    def contexts(self, users: list[User]) -> list[Any]:
        builder = self._context_class.builder
        return [builder(user_id).set("country", country).build() for user_id, country in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        variation, key = self.client.variation, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if variation(key, context, False):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        return [self.client.variation(FLAG_KEY, context, False) for context in contexts]

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()


class GrowthBook(Contender):
    """One GrowthBook instance with the features; per user ``set_attributes`` then
    ``is_on`` (the Python SDK evaluates for the attributes the instance holds)."""

    name, label = "growthbook", "GrowthBook set_attributes + is_on"
    distribution = "growthbook"
    note = "force rule, coverage 0.5 by id, condition country $in [NL, DE]"

    def load(self) -> None:
        try:
            from growthbook import GrowthBook as GrowthBookSDK  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(str(error)) from error
        self.gb = GrowthBookSDK(features=GROWTHBOOK_FEATURES)  # no client key: no network

    def contexts(self, users: list[User]) -> list[Any]:
        return [{"id": user_id, "country": country} for user_id, country in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        set_attributes, is_on, key = self.gb.set_attributes, self.gb.is_on, FLAG_KEY

        def run() -> int:
            on = 0
            for attributes in contexts:
                set_attributes(attributes)
                if is_on(key):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        out = []
        for attributes in contexts:
            self.gb.set_attributes(attributes)
            out.append(self.gb.is_on(FLAG_KEY))
        return out

    def close(self) -> None:
        if hasattr(self, "gb"):
            self.gb.destroy()


class Flagd(Contender):
    """openfeature-provider-flagd in-process, FILE mode (offline flag source path), called
    through the OpenFeature client as an application calls it."""

    name, label = "flagd", "flagd in-process (OpenFeature client)"
    distribution = "openfeature-provider-flagd"
    note = "resolver FILE, offline_flag_source_path; the same flagd document as Andon"

    def version(self) -> str:
        core = version_of("openfeature-flagd-core")
        return (
            f"{version_of(self.distribution)} (flagd-core {core}, fractional {self.fractional()})"
        )

    @staticmethod
    def fractional() -> str:
        """Which fractional bucketing the installed flagd evaluator implements: v2 hashes
        flag key + targeting key as text; v3 (flagd-core 2) hashes the canonical CBOR of
        [flag key, targeting key]."""
        core = version_of("openfeature-flagd-core")
        if core == "not installed":
            return "v2 (provider's own evaluator)"
        return "v2" if core.split(".")[0] in ("0", "1") else "v3 (CBOR)"

    def load(self) -> None:
        try:
            from openfeature import api  # noqa: PLC0415
            from openfeature.contrib.provider.flagd import FlagdProvider  # noqa: PLC0415
            from openfeature.contrib.provider.flagd.config import ResolverType  # noqa: PLC0415
            from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415
        except ImportError as error:
            raise UnavailableError(str(error)) from error
        self._context_class = EvaluationContext
        self._path = str(WORKDIR / f"{self.name}.json")
        Path(self._path).write_text(json.dumps(FLAGD_DOCUMENT))
        resolver = getattr(ResolverType, "FILE", None) or ResolverType.IN_PROCESS
        self.provider = FlagdProvider(resolver_type=resolver, offline_flag_source_path=self._path)
        self._start(api)
        probe = self.provider.resolve_boolean_details(
            FLAG_KEY, False, EvaluationContext(targeting_key="probe", attributes={"country": "FR"})
        )
        if probe.error_code is not None:
            raise UnavailableError(
                f"flagd did not load the flag: {probe.error_code} {probe.error_message}"
            )

    def _start(self, api: Any) -> None:
        # A domain of its own, so that the provider called directly (below) is another one.
        api.set_provider_and_wait(self.provider, domain=self.name)
        self.client = api.get_client(domain=self.name)

    def contexts(self, users: list[User]) -> list[Any]:
        make = self._context_class
        return [make(targeting_key=user_id, attributes={"country": c}) for user_id, c in users]

    def make_pass(self, contexts: list[Any]) -> Pass:
        get, key = self.client.get_boolean_value, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if get(key, False, context):
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        get = self.client.get_boolean_value
        return [get(FLAG_KEY, False, context) for context in contexts]

    def close(self) -> None:
        if hasattr(self, "provider"):
            self.provider.shutdown()


class FlagdProviderDirect(Flagd):
    """The same provider, its resolve method called directly: flagd's evaluator without the
    OpenFeature client's hooks and bookkeeping (not how applications call it)."""

    name, label, role = "flagd-provider", "flagd in-process provider, called directly", "engine"
    note = "FlagdProvider.resolve_boolean_details, no OpenFeature client"

    def _start(self, api: Any) -> None:
        self.provider.initialize(self._context_class())

    def make_pass(self, contexts: list[Any]) -> Pass:
        resolve, key = self.provider.resolve_boolean_details, FLAG_KEY

        def run() -> int:
            on = 0
            for context in contexts:
                if resolve(key, False, context).value:
                    on += 1
            return on

        return run

    def answers(self, contexts: list[Any]) -> list[bool]:
        resolve = self.provider.resolve_boolean_details
        return [resolve(FLAG_KEY, False, context).value for context in contexts]


CONTENDERS: dict[str, type[Contender]] = {
    kind.name: kind
    for kind in (
        AndonClient,
        AndonClientExposures,
        AndonEngine,
        AndonOpenFeature,
        Unleash,
        LaunchDarkly,
        GrowthBook,
        Flagd,
        FlagdProviderDirect,
        HandWritten,
        OpenFeatureNoOp,
        EmptyLoop,
    )
}
"""Every contender, by name, in the table's order."""
