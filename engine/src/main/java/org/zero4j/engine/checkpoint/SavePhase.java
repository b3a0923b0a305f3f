package org.zero4j.engine.checkpoint;

/** The points of a save at which a crash is survivable and testable ({@link SaveFaults}). */
public enum SavePhase {
  /** The staging directory exists; no tensor bytes are written. */
  BEFORE_DATA,
  /** About half of this rank's optimizer fragments are written, its file is not committed. */
  MID_DATA,
  /** Every file of this rank is committed; the manifest is not written. */
  BEFORE_MANIFEST,
  /** The new tag directory is complete and in place; {@code latest} still names the old tag. */
  BEFORE_LATEST
}
