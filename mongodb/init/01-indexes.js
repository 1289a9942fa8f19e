// Create the deliverer store's indexes in the application database on the first start of the
// MongoDB container (the official image runs /docker-entrypoint-initdb.d/*.js once, on an empty
// data volume). The store creates the same indexes when it connects, so a database that missed
// this script is repaired; doing it here means a fresh stack is indexed before any service runs.
//
// The spec between the markers must be strict JSON equal to deliverer/store/mongo.py INDEXES
// (names, keys, options): tests/integration/deploy/test_mongodb_init.py reads it from here.

const INDEXES = /* index-spec:begin */ {
  "locations": [
    {"key": {"msg_id": 1}, "name": "msg_id_unique", "unique": true},
    {"key": {"order_id": 1, "timestamp": -1}, "name": "order_timestamp"},
    {"key": {"timestamp": 1}, "name": "timestamp"},
    {"key": {"ingested_at": 1}, "name": "ingested_at"}
  ],
  "rejected": [
    {"key": {"received_at": -1}, "name": "received_at"},
    {"key": {"reason": 1}, "name": "reason"}
  ]
} /* index-spec:end */;

const databaseName = process.env.MONGO_APP_DATABASE;
if (!databaseName) {
  throw new Error("MONGO_APP_DATABASE is not set: see docker-compose.yml, service mongodb");
}
const appDatabase = db.getSiblingDB(databaseName);
for (const [collection, indexes] of Object.entries(INDEXES)) {
  for (const { key, ...options } of indexes) {
    appDatabase.getCollection(collection).createIndex(key, options);
  }
  print(`deliverer: ${indexes.length} indexes on ${databaseName}.${collection}`);
}
