// The PostgreSQL store against a real PostgreSQL (scripts/pgstack.sh): the shared contract, then
// what only this engine promises — migrations by processes starting together, start-up errors a
// person understands, the end of the sequence, leases that die with their holder's session, and
// copies whose issue or cancel was cut off by a lost connection.
import { afterAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { openPostgresStore } from "../../lib/store/postgres/store";
import { LAST_TICKET, type Store } from "../../lib/store/types";
import { dropDatabase, freshDatabase, requirePgstack } from "../helpers/pgstack";
import { storeContract } from "./contract";

const pg = requirePgstack();
const made: string[] = [];
afterAll(async () => {
  for (const url of made.splice(0)) await dropDatabase(pg!, url).catch(() => {});
});

async function fresh(): Promise<() => Promise<Store>> {
  const url = await freshDatabase(pg!);
  made.push(url);
  return () => openPostgresStore({ url });
}

describe.skipIf(!pg)("PostgreSQL store", () => {
  storeContract("postgres", fresh);
});
