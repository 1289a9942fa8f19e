// Create the application account the services log in with (readWrite on the application
// database only; the root account from MONGO_INITDB_ROOT_* is for administration). Runs once,
// on an empty data volume: changing MONGO_APP_PASSWORD later needs db.changeUserPassword().

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: see docker-compose.yml, service mongodb`);
  }
  return value;
}

const databaseName = required("MONGO_APP_DATABASE");
const username = required("MONGO_APP_USERNAME");
db.getSiblingDB(databaseName).createUser({
  user: username,
  pwd: required("MONGO_APP_PASSWORD"),
  roles: [{ role: "readWrite", db: databaseName }],
});
print(`deliverer: user ${username} can read and write ${databaseName}`);
