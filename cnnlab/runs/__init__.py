"""The run directory's one owner: its layout (every file name), reading and writing its
files, creating, finding and loading runs, and the table of runs.

    layout.py  RunLayout: every file name a run has; safe_name, inside
    rundir.py  RunDir: a RunLayout with the reader and writer of each single file
    write.py   atomic writes in the user's umask that never leave the run through a link
    read.py    one reader per file (history.csv: strict for resume, tolerant for looking),
               RunFiles (a whole run, tolerantly), started (the one "started"), owner_alive
    find.py    create_run_dir, find_runs(where=...) and newest (the one "newest"),
               resolve_run, resume_command
    load.py    LoadedRun, load_run, load_model (TensorFlow only here)
    table.py   the one text-table printer, cnnlab runs's rows

A run is ``outputs/<name>/<YYYYmmdd-HHMMSS>/``; every command after ``train`` starts from
one (or from a bare .keras file).
"""

from cnnlab.runs.find import (
    FILTERS,
    MIN_FREE_BYTES,
    check_writable,
    create_run_dir,
    diverged,
    find_runs,
    is_run_dir,
    newest,
    resolve_run,
    resumable,
    resume_command,
    still_running,
)
from cnnlab.runs.layout import DEFAULT_OUTPUT_DIR, MODEL_FILE, STAMP, RunLayout, inside, safe_name
from cnnlab.runs.load import LoadedRun, load_model, load_run, run_of
from cnnlab.runs.read import RunFiles, owner_alive, parse_history, read_json_file, read_run, started
from cnnlab.runs.rundir import RunDir
from cnnlab.runs.write import atomic_path, check_within, json_text, save_figure, save_model, write_json, write_text

__all__ = [
    "DEFAULT_OUTPUT_DIR", "FILTERS", "MIN_FREE_BYTES", "MODEL_FILE", "STAMP", "LoadedRun", "RunDir", "RunFiles", "RunLayout",
    "atomic_path", "check_within", "check_writable", "create_run_dir", "diverged", "find_runs", "inside",
    "is_run_dir", "json_text", "load_model", "load_run", "newest", "owner_alive", "parse_history", "read_json_file",
    "read_run", "resolve_run", "resumable", "resume_command", "run_of", "safe_name", "save_figure", "save_model",
    "started", "still_running", "write_json", "write_text",
]  # fmt: skip
