"""A stand-in for the Neo4j DBMS that the MCP server queries: per address (host:port of the Bolt URI) a set of
users with passwords and named databases. It answers just enough Cypher for the data path's tests — the query
type that `EXPLAIN` reports (read, write, schema), `RETURN` of literals and parameters, a schema — and refuses
what Neo4j refuses: wrong credentials (Neo.ClientError.Security.Unauthorized), a bearer token it has no SSO
for, an unknown database, an address nothing listens on, and `apoc.meta.schema` in a database without the APOC
plugin (Neo.ClientError.Procedure.ProcedureNotFound; a per-database property, default installed).

It holds a little data: the nodes that the small part of write Cypher the demo needs creates — `CREATE` or `MERGE`
of one node pattern `(v:Label {key: value, …})`, optionally `RETURN v` / `v.key` / `count(v)` — and that `MATCH
(v:Label {…}) RETURN …` reads back; any other query is recorded (writes) and answers no rows. A node comes back as
the Go driver's `dbtype.Node` (`ElementId`, `Labels`, `Props`), which neo4j/mcp v1.5.3 marshals as it is
(docs/aws-behaviour.md, issue 20 section). Tests and the local demo register DBMSs and change passwords through the data plane's
control endpoint (`/_dataplane/neo4j`); the public demo database `demo.neo4jlabs.com:7687` (user and password
`companies`, database `companies`) is registered from the start, as it exists on the internet.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

DEMO_ADDRESS = "demo.neo4jlabs.com:7687"

_WRITE = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|FOREACH|LOAD\s+CSV)\b", re.I)
_SCHEMA = re.compile(r"\b(CREATE|DROP)\s+(INDEX|CONSTRAINT|RANGE|TEXT|POINT|FULLTEXT|VECTOR|LOOKUP|DATABASE)\b", re.I)
_RETURN_ONLY = re.compile(r"^\s*RETURN\s+(.+?)\s*;?\s*$", re.I | re.S)
_ITEM = re.compile(r"^\s*(.+?)\s+AS\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s*$", re.I | re.S)


class Neo4jError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"Neo4jError: {code} ({message})")
        self.code = code


@dataclass
class Database:
    schema: list[dict[str, Any]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)  # {"ElementId", "Labels", "Props"}, in creation order
    uuid: str = field(default_factory=lambda: str(uuid4()))
    # Whether the APOC plugin (with its `meta` component: apoc.meta.schema) is installed. neo4j/mcp v1.5.3 checks it
    # at the first initialize and needs it for get-schema.
    apoc: bool = True


APOC_MISSING = (
    "There is no procedure with the name `apoc.meta.schema` registered for this database instance. Please ensure "
    "you've spelled the procedure name correctly and that the procedure is properly deployed."
)


@dataclass
class Dbms:
    users: dict[str, str]
    databases: dict[str, Database]


def address(uri: str) -> str:
    u = urlparse(uri)
    if u.scheme not in ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc") or not u.hostname:
        raise Neo4jError("Neo.ClientError.General.InvalidArgument", f"unsupported URI {uri!r}")
    return f"{u.hostname.lower()}:{u.port or 7687}"


def query_type(query: str) -> str:
    """What EXPLAIN reports: 'r' read, 'w' write, 's' schema, 'rw' read-write."""
    if _SCHEMA.search(query):
        return "s"
    if _WRITE.search(query):
        return "rw" if re.search(r"\b(MATCH|RETURN)\b", query, re.I) else "w"
    return "r"


def _literal(text: str, params: dict[str, Any]) -> Any:
    text = text.strip()
    if text.startswith("$"):
        name = text[1:]
        if name not in params:
            raise Neo4jError("Neo.ClientError.Statement.ParameterMissing", f"Expected parameter(s): {name}")
        return params[name]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    raise Neo4jError("Neo.ClientError.Statement.SyntaxError", f"the stand-in evaluates only literals and parameters, not {text!r}")


_IDENT = r"`?[A-Za-z_][A-Za-z0-9_]*`?"
_NODE = re.compile(
    rf"^\s*(?P<verb>CREATE|MERGE|MATCH)\s*\(\s*(?P<var>{_IDENT})?\s*(?P<labels>(?::\s*{_IDENT}\s*)*)"
    rf"(?P<props>\{{.*\}})?\s*\)\s*(?:RETURN\s+(?P<ret>.+?))?\s*;?\s*$",
    re.I | re.S,
)


def _name(text: str) -> str:
    return text.strip().strip("`")


def _map_literal(text: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """`{key: expr, …}` with literals and parameters (the stand-in's whole expression language)."""
    if not text:
        return {}
    body = text.strip()[1:-1].strip()
    out: dict[str, Any] = {}
    for item in _split_items(body) if body else []:
        key, sep, value = item.partition(":")
        if not sep:
            raise Neo4jError("Neo.ClientError.Statement.SyntaxError", f"the stand-in reads only `key: value` maps, not {item!r}")
        out[_name(key)] = _literal(value, params)
    return out


def _projection(item: str, var: str, matched: list[dict[str, Any]], params: dict[str, Any]) -> tuple[str, Any]:
    """One RETURN item for each matched node: (column, value per node or the aggregate)."""
    named = _ITEM.match(item)
    expr, column = (named.group(1).strip(), named.group(2)) if named else (item.strip(), item.strip())
    if re.fullmatch(rf"count\(\s*{re.escape(var)}\s*\)", expr, re.I):
        return column, ("count", len(matched))
    if expr == var:
        return column, ("each", [dict(n, Labels=list(n["Labels"]), Props=dict(n["Props"])) for n in matched])
    prop = re.fullmatch(rf"{re.escape(var)}\.({_IDENT})", expr)
    if prop:
        return column, ("each", [n["Props"].get(_name(prop.group(1))) for n in matched])
    return column, ("each", [_literal(expr, params)] * len(matched))


def _split_items(body: str) -> list[str]:
    items, depth, current, quote = [], 0, "", ""
    for ch in body:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return items


class Neo4jStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dbms: dict[str, Dbms] = {}
        self.register(f"neo4j+s://{DEMO_ADDRESS}", {"companies": "companies"}, ["companies"])

    def register(self, uri: str, users: dict[str, str], databases: list[str], without_apoc: list[str] | None = None) -> None:
        with self._lock:
            self._dbms[address(uri)] = Dbms(
                users=dict(users),
                databases={
                    name: Database(schema=_demo_schema(), apoc=name not in (without_apoc or [])) for name in databases
                },
            )

    def set_password(self, uri: str, user: str, password: str) -> None:
        with self._lock:
            dbms = self._dbms.get(address(uri))
            if dbms is None:
                raise KeyError(uri)
            dbms.users[user] = password

    def set_apoc(self, uri: str, database: str, installed: bool) -> None:
        """Installs or removes the APOC plugin of one database (as an operator would)."""
        with self._lock:
            self._dbms[address(uri)].databases[database].apoc = installed

    def writes(self, uri: str, database: str) -> list[str]:
        with self._lock:
            return list(self._dbms[address(uri)].databases[database].writes)

    def _session(self, uri: str, database: str, auth: tuple[str, ...]) -> Database:
        dbms = self._dbms.get(address(uri))
        if dbms is None:
            raise Neo4jError("Neo.TransientError.General.ServiceUnavailable", f"Could not connect to {address(uri)}")
        if auth[0] == "bearer":
            raise Neo4jError("Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure.")
        _, user, password = auth
        if dbms.users.get(user) != password:
            raise Neo4jError("Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure.")
        db = dbms.databases.get(database)
        if db is None:
            raise Neo4jError("Neo.ClientError.Database.DatabaseNotFound", f"Database does not exist. Database name: '{database}'.")
        return db

    def explain(self, uri: str, database: str, auth: tuple[str, ...], query: str) -> str:
        with self._lock:
            self._session(uri, database, auth)
        return query_type(query)

    def run(self, uri: str, database: str, auth: tuple[str, ...], query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            db = self._session(uri, database, auth)
            node = _NODE.match(query)
            if node:
                return self._node_pattern(db, node, query, params)
            if query_type(query) != "r":
                db.writes.append(query)
                return []
        m = _RETURN_ONLY.match(query)
        if not m:
            return []  # MATCH … on a graph the stand-in does not hold: no rows
        row: dict[str, Any] = {}
        for item in _split_items(m.group(1)):
            named = _ITEM.match(item)
            if named:
                row[named.group(2)] = _literal(named.group(1), params)
            else:
                row[item.strip()] = _literal(item, params)
        return [row]

    @staticmethod
    def _node_pattern(db: Database, m: re.Match[str], query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """CREATE / MERGE / MATCH of one node pattern (the module docstring); called with the lock held."""
        verb = m.group("verb").upper()
        var = _name(m.group("var") or "")
        labels = [_name(x) for x in (m.group("labels") or "").split(":") if x.strip()]
        props = _map_literal(m.group("props"), params)
        if any(v is None for v in props.values()):
            raise Neo4jError(
                "Neo.ClientError.Statement.SemanticError", "Cannot merge the following node because of null property value"
            )

        def matches(n: dict[str, Any]) -> bool:
            return set(labels) <= set(n["Labels"]) and all(n["Props"].get(k) == v for k, v in props.items())

        matched = [n for n in db.nodes if matches(n)]
        if verb == "CREATE" or (verb == "MERGE" and not matched):
            created = {"ElementId": f"4:{db.uuid}:{len(db.nodes)}", "Labels": labels, "Props": dict(props)}
            db.nodes.append(created)
            matched = [created]
        if verb != "MATCH":
            db.writes.append(query)
        if not m.group("ret"):
            return []
        columns = [_projection(item, var, matched, params) for item in _split_items(m.group("ret"))]
        if any(kind == "count" for _, (kind, _) in columns):
            if any(kind != "count" for _, (kind, _) in columns):
                raise Neo4jError("Neo.ClientError.Statement.SyntaxError", "the stand-in evaluates count() only on its own")
            return [{c: (v if kind == "count" else (v[0] if v else None)) for c, (kind, v) in columns}]
        return [{c: v[i] for c, (_, v) in columns} for i in range(len(matched))]

    def schema(self, uri: str, database: str, auth: tuple[str, ...]) -> list[dict[str, Any]]:
        """`CALL apoc.meta.schema(...)`: the schema, or ProcedureNotFound without APOC."""
        with self._lock:
            db = self._session(uri, database, auth)
            if not db.apoc:
                raise Neo4jError("Neo.ClientError.Procedure.ProcedureNotFound", APOC_MISSING)
            return list(db.schema)

    def has_apoc_meta_schema(self, uri: str, database: str, auth: tuple[str, ...]) -> bool:
        """`SHOW PROCEDURES YIELD name WHERE name = 'apoc.meta.schema' RETURN count(name) > 0`."""
        with self._lock:
            return self._session(uri, database, auth).apoc


def _demo_schema() -> list[dict[str, Any]]:
    return [
        {"key": "Organization", "value": {"type": "node", "count": 0, "properties": {"name": {"type": "STRING"}}}},
        {"key": "Person", "value": {"type": "node", "count": 0, "properties": {"name": {"type": "STRING"}}}},
        {"key": "Article", "value": {"type": "node", "count": 0, "properties": {"title": {"type": "STRING"}}}},
        {"key": "MENTIONS", "value": {"type": "relationship", "count": 0, "properties": {}}},
    ]
