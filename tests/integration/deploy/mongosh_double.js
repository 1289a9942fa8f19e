// Run a mongosh script under Node with a double of the mongosh globals it uses, for the tests of
// mongodb/*.js on machines without a MongoDB server:
//
//   node mongosh_double.js SCRIPT < scenario.json
//
// The scenario (JSON on stdin) sets the environment and what the server answers:
//   env            process.env as the script sees it
//   rootPassword   the root password the server accepts
//   existingUsers  users that already exist, as "database.user"
//   createdMeanwhile  true: a concurrent run creates the user just before this one does
//   createFails    an error message createUser throws (the user stays absent)
// It prints one JSON object: the calls made on the server, what the script printed, and the
// error that ended it (null when it completed). Like mongosh: db.auth() throws on a wrong
// password, getUser() answers null for a user that does not exist, createUser() throws for one
// that does.
"use strict";

const fs = require("node:fs");
const vm = require("node:vm");

const script = fs.readFileSync(process.argv[2], "utf8");
const scenario = JSON.parse(fs.readFileSync(0, "utf8"));
const users = new Set(scenario.existingUsers || []);
const calls = [];
const printed = [];
let authenticated = false;

function database(name) {
  const requireAuth = (what) => {
    if (!authenticated) {
      throw new Error(`command ${what} requires authentication`);
    }
  };
  return {
    auth(user, pwd) {
      calls.push(["auth", name, user]);
      if (name !== "admin" || pwd !== scenario.rootPassword) {
        throw new Error("Authentication failed.");
      }
      authenticated = true;
      return { ok: 1 };
    },
    getUser(user) {
      requireAuth("usersInfo");
      calls.push(["getUser", name, user]);
      return users.has(`${name}.${user}`) ? { user, db: name } : null;
    },
    createUser(spec) {
      requireAuth("createUser");
      calls.push(["createUser", name, spec]);
      if (scenario.createdMeanwhile) {
        users.add(`${name}.${spec.user}`);
      }
      if (scenario.createFails) {
        throw new Error(scenario.createFails);
      }
      if (users.has(`${name}.${spec.user}`)) {
        throw new Error(`User "${spec.user}@${name}" already exists`);
      }
      users.add(`${name}.${spec.user}`);
      return { ok: 1 };
    },
    updateUser(user, update) {
      requireAuth("updateUser");
      calls.push(["updateUser", name, user, update]);
      if (!users.has(`${name}.${user}`)) {
        throw new Error(`Could not find user "${user}@${name}"`);
      }
      return { ok: 1 };
    },
  };
}

const context = {
  db: { getSiblingDB: database },
  print: (...parts) => printed.push(parts.join(" ")),
  process: { env: scenario.env || {} },
};
let error = null;
try {
  vm.runInNewContext(script, context, { filename: process.argv[2] });
} catch (caught) {
  error = caught.message;
}
process.stdout.write(JSON.stringify({ calls, printed, error }));
