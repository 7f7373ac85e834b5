"""A small MongoDB wire-protocol server in a thread, backed by mongomock, for the real drivers to talk to.

Where no real server is configured, the pitfall scenarios still run Motor and PyMongo for real: their
loop checks, connection pools and monitors are the drivers' own. Pointed at an unreachable address, every
first use would wait out server selection; pointed here, it connects at once and gets real answers. It
speaks what the app sends (the handshake, CRUD, findAndModify, indexes, a few admin commands) and
answers anything else with MongoDB's "no such command" error. It is a test double, not a database: one
client's writes are applied in order under one lock, with mongomock's semantics.
"""

from __future__ import annotations

import datetime
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import bson
import mongomock
from bson.codec_options import CodecOptions
from pymongo.errors import DuplicateKeyError, OperationFailure

Document = dict[str, Any]

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
_HEADER = struct.Struct("<iiii")
_CODEC: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=datetime.UTC)
_MAX_WIRE_VERSION = 17  # MongoDB 6.0: OP_MSG, sessions, every command the drivers send here


class _Store:
    """The mongomock client every connection shares, and the commands it answers."""

    def __init__(self) -> None:
        self.client: mongomock.MongoClient[Document] = mongomock.MongoClient(tz_aware=True)
        self.lock = threading.Lock()
        self.commands: dict[str, Callable[[Any, Document], Document]] = {
            "hello": self.hello,
            "ismaster": self.hello,
            "ping": lambda db, cmd: {},
            "buildinfo": lambda db, cmd: {"version": "6.0.0", "versionArray": [6, 0, 0, 0]},
            "endsessions": lambda db, cmd: {},
            "killcursors": lambda db, cmd: {"cursorsKilled": cmd["cursors"]},
            "find": self.find,
            "aggregate": self.aggregate,
            "insert": self.insert,
            "update": self.update,
            "delete": self.delete,
            "findandmodify": self.find_and_modify,
            "createindexes": self.create_indexes,
            "listcollections": self.list_collections,
            "listindexes": self.list_indexes,
            "drop": lambda db, cmd: db.drop_collection(cmd["drop"]) or {},
            "dropdatabase": lambda db, cmd: self.client.drop_database(db.name) or {},
        }

    def run(self, database: str, command: Document) -> Document:
        name = next(iter(command))
        if name.lower() == "saslstart":
            # It knows no users: any credentials get MongoDB's answer to wrong ones.
            return {"ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"}
        handler = self.commands.get(name.lower())
        if handler is None:
            return {"ok": 0, "errmsg": f"no such command: '{name}'", "code": 59, "codeName": "CommandNotFound"}
        try:
            with self.lock:
                return {**handler(self.client[database], command), "ok": 1}
        except OperationFailure as exc:
            return {"ok": 0, "errmsg": str(exc), "code": exc.code or 2}

    def hello(self, db: Any, command: Document) -> Document:
        return {
            "helloOk": True,
            "ismaster": True,
            "isWritablePrimary": True,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": datetime.datetime.now(datetime.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": 1,
            "minWireVersion": 0,
            "maxWireVersion": _MAX_WIRE_VERSION,
        }

    @staticmethod
    def _cursor(db: Any, collection: str, documents: list[Document]) -> Document:
        return {"cursor": {"firstBatch": documents, "id": 0, "ns": f"{db.name}.{collection}"}}

    def find(self, db: Any, cmd: Document) -> Document:
        cursor = db[cmd["find"]].find(cmd.get("filter", {}), cmd.get("projection"))
        if cmd.get("sort"):
            cursor = cursor.sort(list(cmd["sort"].items()))
        cursor = cursor.skip(cmd.get("skip", 0)).limit(abs(cmd.get("limit", 0)))
        return self._cursor(db, cmd["find"], list(cursor))

    def aggregate(self, db: Any, cmd: Document) -> Document:
        return self._cursor(db, cmd["aggregate"], list(db[cmd["aggregate"]].aggregate(cmd["pipeline"])))

    def insert(self, db: Any, cmd: Document) -> Document:
        collection, errors, inserted = db[cmd["insert"]], [], 0
        for index, document in enumerate(cmd["documents"]):
            try:
                collection.insert_one(document)
                inserted += 1
            except DuplicateKeyError as exc:
                errors.append({"index": index, "code": 11000, "errmsg": str(exc)})
                break
        return {"n": inserted, **({"writeErrors": errors} if errors else {})}

    def update(self, db: Any, cmd: Document) -> Document:
        collection, matched, modified, errors = db[cmd["update"]], 0, 0, []
        for index, spec in enumerate(cmd["updates"]):
            method = collection.update_many if spec.get("multi") else collection.update_one
            try:
                result = method(spec["q"], spec["u"], upsert=spec.get("upsert", False))
            except DuplicateKeyError as exc:
                errors.append({"index": index, "code": 11000, "errmsg": str(exc)})
                break
            matched += result.matched_count + (1 if result.upserted_id is not None else 0)
            modified += result.modified_count
        return {"n": matched, "nModified": modified, **({"writeErrors": errors} if errors else {})}

    def delete(self, db: Any, cmd: Document) -> Document:
        collection, deleted = db[cmd["delete"]], 0
        for spec in cmd["deletes"]:
            method = collection.delete_one if spec.get("limit") == 1 else collection.delete_many
            deleted += method(spec["q"]).deleted_count
        return {"n": deleted}

    def find_and_modify(self, db: Any, cmd: Document) -> Document:
        collection = db[cmd["findAndModify"]]
        sort = list(cmd["sort"].items()) if cmd.get("sort") else None
        if cmd.get("remove"):
            value = collection.find_one_and_delete(cmd.get("query", {}), projection=cmd.get("fields"), sort=sort)
        else:
            try:
                value = collection.find_one_and_update(
                    cmd.get("query", {}),
                    cmd["update"],
                    projection=cmd.get("fields"),
                    sort=sort,
                    upsert=cmd.get("upsert", False),
                    return_document=bool(cmd.get("new")),
                )
            except DuplicateKeyError as exc:
                return {"ok": 0, "errmsg": str(exc), "code": 11000}
        return {"value": value, "lastErrorObject": {"n": 0 if value is None else 1}}

    def create_indexes(self, db: Any, cmd: Document) -> Document:
        collection = db[cmd["createIndexes"]]
        for spec in cmd["indexes"]:
            options = {key: value for key, value in spec.items() if key not in {"key", "v"}}
            collection.create_index(list(spec["key"].items()), **options)
        return {"numIndexesAfter": len(collection.index_information())}

    def list_indexes(self, db: Any, cmd: Document) -> Document:
        name = cmd["listIndexes"]
        if name not in db.list_collection_names():
            return self._cursor(db, name, [])
        specs = [
            {"v": 2, "name": index, "key": dict(info.pop("key")), **{k: v for k, v in info.items() if k != "v"}}
            for index, info in db[name].index_information().items()
        ]
        return self._cursor(db, name, specs)

    def list_collections(self, db: Any, cmd: Document) -> Document:
        names = db.list_collection_names(filter=cmd.get("filter"))
        return self._cursor(db, "$cmd.listCollections", [{"name": name, "type": "collection"} for name in names])


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data.extend(chunk)
    return bytes(data)


def _command_from_op_msg(body: bytes) -> tuple[str, Document]:
    """An OP_MSG's command: its body document, with any document sequences (kind 1 sections) folded in."""
    position, command = 4, None  # after the flag bits
    sequences: dict[str, list[Document]] = {}
    while position < len(body):
        kind = body[position]
        position += 1
        (size,) = struct.unpack_from("<i", body, position)
        if kind == 0:
            command = bson.decode(body[position : position + size], codec_options=_CODEC)
        else:
            section = body[position : position + size]
            name_end = section.index(b"\x00", 4)
            sequences[section[4:name_end].decode()] = bson.decode_all(section[name_end + 1 :], _CODEC)
        position += size
    if command is None:
        raise ValueError("OP_MSG without a body section")
    command.update(sequences)
    return str(command.pop("$db", "admin")), command


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        while True:
            try:
                length, request_id, _, opcode = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
                body = _read_exactly(sock, length - _HEADER.size)
            except (ConnectionError, OSError):
                return
            sock.sendall(self._answer(request_id, opcode, body))

    def _answer(self, request_id: int, opcode: int, body: bytes) -> bytes:
        store = self.server.store
        if opcode == OP_MSG:
            database, command = _command_from_op_msg(body)
            payload = struct.pack("<I", 0) + b"\x00" + bson.encode(store.run(database, command))
            return _HEADER.pack(_HEADER.size + len(payload), 0, request_id, OP_MSG) + payload
        # OP_QUERY: only the legacy handshake a driver sends first, on "admin.$cmd".
        name_end = body.index(b"\x00", 4)
        query_start = name_end + 1 + 8
        (size,) = struct.unpack_from("<i", body, query_start)
        query = bson.decode(body[query_start : query_start + size], codec_options=_CODEC)
        command = query.get("$query", query)
        reply = bson.encode(store.run(body[4:name_end].decode().split(".")[0], command))
        payload = struct.pack("<iqii", 0, 0, 0, 1) + reply
        return _HEADER.pack(_HEADER.size + len(payload), 0, request_id, OP_REPLY) + payload


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = _Store()


@contextmanager
def wire_server() -> Iterator[str]:
    """A server on a free loopback port for the block; yields its `mongodb://` URL."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="mongomock-wire-server", daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
