// The shared store contract (contract.ts) on the SQLite engine: handles on one STATE_DIR.
import { join } from "node:path";
import { openStore } from "../../lib/store";
import { useTempDirs } from "../helpers/kit";
import { storeContract } from "./contract";

const dir = useTempDirs("mailer-contract-");

storeContract("sqlite", async () => {
  const stateDir = dir();
  return () => openStore({ stateDir, logDir: join(stateDir, "logs") });
});
