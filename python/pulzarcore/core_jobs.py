"""Pulzar's job base class, as pmz runs it (pulzar-api.md section 7).

A job script subclasses CoreJobs, does its work in a method decorated with
CoreJobs._pulzar_run_job and returns the success check from execute().
Log and output lines go to the pmz runner as they are added (through the
channel pmz_launch.py installs); run outside pmz, they stay in the object.
"""
import functools
import json
import os
from abc import ABCMeta, abstractmethod

# Set by pmz_launch.py: sends one {"t": ...} message to the runner.
_emit = None


def _send(message):
    if _emit is not None:
        _emit(message)


class CoreJobs(metaclass=ABCMeta):
    """Base class of a Pulzar job: the constructor takes the launch body plus
    `job_id` and `_pulzar_config` ({"scheduled": bool})."""

    def __init__(self, parameters, notification=False):
        # Pulzar skipped its database notification when True; pmz has none to skip.
        self.local_exec = False
        self.pulzar_parameters = parameters
        self._notification_enabled = notification
        self._job_id = parameters.get('job_id')
        self._pulzar_config = parameters.get('_pulzar_config', {'scheduled': False})
        self._log = []
        self._failed_job = False
        self._pulzar_job_output = []
        self._pulzar_data_file_path = os.environ.get('PMZ_DATA_FILE') or None
        if parameters:
            self.pulzar_add_log(json.dumps(parameters, default=str))

    @abstractmethod
    def execute(self):
        """The entry point: returns a truthy value when the job succeeded."""
        return None

    def pulzar_set_output(self, output_str):
        """Adds one piece of output; the pieces are joined with newlines."""
        text = str(output_str)
        self._pulzar_job_output.append(text)
        _send({'t': 'output', 'text': text})

    def pulzar_get_filepath(self):
        """The local file of the job's `pulzar_data` key, or None."""
        return self._pulzar_data_file_path

    def _pulzar_run_job(executor):
        """Decorator of the job's work: an exception marks the job failed and
        is logged as PULZAR_ERROR::{message}; returns the success check."""

        @functools.wraps(executor)
        def wrapper(self, *args, **kwargs):
            try:
                executor(self, *args, **kwargs)
            except Exception as err:
                self._mark_as_failed()
                self.pulzar_add_log('PULZAR_ERROR::' + str(err))
            return self.is_the_job_ok()
        return wrapper

    def is_the_job_ok(self):
        return not self._failed_job

    def _mark_as_failed(self):
        self._failed_job = True

    def pulzar_add_log(self, message, bulk=False):
        """Adds a log line; with bulk=True, a list adds one line per item
        (Pulzar also appended the list itself, which broke its notification)."""
        items = message if bulk and isinstance(message, list) else [message]
        for item in items:
            for line in str(item).split('\n'):
                self._log.append(line)
                _send({'t': 'log', 'line': line})
