/**
 * A CPU profile of this process on demand, for the bench's child processes (members, session
 * apps): the bench asks a process to start, runs the workload, then asks it to write the profile.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector/promises';

/** Starts and stops one CPU profile of this process at a time. */
export class CpuProfiler {
  private session: InspectorSession | undefined;

  /** Starts profiling (a profile already running is restarted). */
  async start(): Promise<void> {
    this.session?.disconnect();
    this.session = new InspectorSession();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
  }

  /**
   * Stops profiling and writes the profile (`.cpuprofile` JSON) to `file`.
   * @throws {Error} when no profile was started.
   */
  async stop(file: string): Promise<void> {
    if (this.session === undefined) throw new Error('profileStop without profileStart');
    const { profile } = await this.session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    this.session.disconnect();
    this.session = undefined;
  }
}
