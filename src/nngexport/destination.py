"""Where an export's bytes go: the part file, its journal, and resuming them.

Every export writes ``.NAME.nngexport-part`` and keeps a journal
``.NAME.nngexport-journal`` beside it, recording after every write how many
chunks and bytes are safely in the part file. When the export completes, the
part file is renamed to NAME and the journal deleted.

When an export stops early (a crash of the coordinator, even SIGKILL; Ctrl-C;
a failure after some chunks were written), both files stay. ``--resume``
plans the export again, checks that the plan is the journal's, truncates the
part file to the journal's length and carries on from the next chunk; the
result is byte-identical to an export that never stopped. Without
``--resume`` a leftover journal is an error, never silently reused or
overwritten.

These functions block; Trio code runs them in a thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import OutputError
from .job import JobPlan
from .journal import Journal, JournalHeader, check_resumable, plan_digest
from .output import AtomicOutput, check_target, journal_path, part_path

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Destination:
    """An open part file with its journal, and how many chunks it already holds."""

    output: AtomicOutput
    journal: Journal
    start: int

    def write(self, pieces: Sequence[bytes | memoryview], *, chunks_done: int) -> None:
        """Append ``pieces`` and record that ``chunks_done`` chunks are in the file."""
        for piece in pieces:
            self.output.write(piece)
        self.journal.record(
            chunks_done, self.output.bytes_written, sha256=self.output.sha256
        )

    def commit(self) -> None:
        """Rename the part file into place and delete the journal."""
        self.output.commit()
        self.journal.remove()

    def close(self, *, keep: bool) -> None:
        """Stop writing: keep both files for ``--resume``, or delete both."""
        if keep:
            self.output.keep()
            self.journal.close()
            logger.warning(
                "progress kept in %s; rerun with --resume to continue",
                self.journal.path,
            )
        else:
            self.output.abort()
            self.journal.remove()


def check_destination(output: str | os.PathLike[str], *, resume: bool) -> None:
    """Fail early, before any work, if ``output`` cannot be written.

    Raises:
        OutputError: the directory is missing, ``output`` is a directory, or
            an interrupted export left its files and ``resume`` is false.
    """
    target = check_target(output)
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {str(target)!r}: permission denied")
    journal = journal_path(target)
    if not resume and (journal.exists() or part_path(target).exists()):
        raise OutputError(
            f"an interrupted export to {str(target)!r} left {str(journal)!r};"
            " rerun with --resume to continue it, or delete it and"
            f" {str(part_path(target))!r} to start over"
        )


def open_destination(
    plan: JobPlan, output: str | os.PathLike[str], *, resume: bool
) -> Destination:
    """Create the part file and journal, or with ``resume`` continue old ones.

    With ``resume`` and no journal, a new export starts.

    Raises:
        OutputError: the files cannot be created, or the interrupted export
            cannot be resumed (another plan, a damaged part file).
    """
    check_destination(output, resume=resume)
    journal_file = journal_path(output)
    if resume and journal_file.exists():
        header, progress = Journal.load(journal_file)
        check_resumable(
            header,
            source=plan.source,
            columns=plan.columns,
            chunk_rows=plan.chunk_rows,
            chunks=plan.chunks,
            output=output,
        )
        out = AtomicOutput.resume(output, progress.bytes_done, sha256=progress.sha256)
        try:
            journal = Journal.reopen(journal_file)
        except BaseException:
            out.keep()
            raise
        logger.info(
            "resuming %s after %s of %s chunks",
            output,
            progress.chunks_done,
            len(plan.chunks),
        )
        return Destination(out, journal, progress.chunks_done)
    out = AtomicOutput(output)
    try:
        journal = Journal.create(
            journal_file,
            JournalHeader(
                plan.source,
                plan.columns,
                plan.chunk_rows,
                len(plan.chunks),
                plan_digest(plan.columns, plan.chunks),
            ),
        )
    except BaseException:
        out.abort()
        raise
    return Destination(out, journal, 0)
