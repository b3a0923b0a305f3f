/**
 * DeepSpeed's JSON config, read with DeepSpeed's semantics: {@link
 * org.zero4j.engine.config.EngineConfig#load(String, int, org.zero4j.engine.config.AutoValues)}.
 *
 * <p>Where DeepSpeed releases differ, the current release is followed: {@code gradient_clipping}
 * defaults to 1.0 (since 0.19.3), {@code steps_per_print} has no default (0 here: never), and
 * {@code aio.thread_count} is read as its new name {@code intra_op_parallelism} with a warning.
 *
 * <p>zero4j's own settings live in a top-level block that DeepSpeed ignores, so a config stays
 * portable between the two:
 *
 * <pre>{@code
 * "zero4j": {
 *   "collective_timeout_seconds": 300   // how long a collective waits for a peer; default 300
 * }
 * }</pre>
 *
 * <p>{@code "auto"} is accepted exactly where Hugging Face's DeepSpeed integration fills it (see
 * {@link org.zero4j.engine.config.AutoValues}); anywhere else it is an error naming the key.
 */
package org.zero4j.engine.config;
