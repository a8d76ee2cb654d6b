// What a STATE_DIR's store holds, for assertions: the same report `bun run state --json` prints.
import { openStore } from "../../lib/store";
import { gatherReport, type StateReport } from "../../lib/store/report";

export async function readState(stateDir: string, logDir = `${stateDir}/logs`): Promise<StateReport> {
  const store = await openStore({ stateDir, logDir });
  try {
    return await gatherReport(store);
  } finally {
    await store.close();
  }
}
