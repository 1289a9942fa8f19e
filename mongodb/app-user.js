// The application account the services log in with: readWrite on the application database only.
// Run by the one-shot service "mongodb-users" (docker-compose.yml) with mongosh on every
// `docker compose up`, as the root account MongoDB created on its first start. It creates the
// account, or sets its password and role to what .env says now: a password changed in .env, a
// fresh .env beside an old data volume, or a first start that failed half-way are all repaired
// by the next start (the image's /docker-entrypoint-initdb.d runs once, on an empty volume only).
//
// Every secret comes from the environment, never from the command line (visible to `ps`):
//   MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD   the root account (in the admin database)
//   MONGO_APP_DATABASE                         the database the services use (and authenticate to)
//   MONGO_APP_USERNAME, MONGO_APP_PASSWORD     the application account

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: see docker-compose.yml, service mongodb-users`);
  }
  return value;
}

const rootUsername = required("MONGO_ROOT_USERNAME");
const rootPassword = required("MONGO_ROOT_PASSWORD");
const databaseName = required("MONGO_APP_DATABASE");
const username = required("MONGO_APP_USERNAME");
const account = {
  pwd: required("MONGO_APP_PASSWORD"),
  roles: [{ role: "readWrite", db: databaseName }],
};

try {
  db.getSiblingDB("admin").auth(rootUsername, rootPassword);
} catch (error) {
  throw new Error(
    `cannot log in to MongoDB as ${rootUsername} (${error.message}): MONGO_ROOT_PASSWORD in .env is ` +
      "not the one the data volume was created with. Put the old one back (README, " +
      '"Rotating secrets"), or delete the data with ./stop.sh --purge',
  );
}

const appDatabase = db.getSiblingDB(databaseName);
let action = "updated";
if (appDatabase.getUser(username) === null) {
  try {
    appDatabase.createUser({ user: username, ...account });
    action = "created";
  } catch (error) {
    // Created meanwhile by another run: fall through to the update.
    if (appDatabase.getUser(username) === null) {
      throw error;
    }
  }
}
if (action === "updated") {
  appDatabase.updateUser(username, account);
}
print(`mongodb-users: ${action} ${username}, who may read and write ${databaseName} only`);
