"""Runs one Pulzar job script for pmz: `python3 pmz_launch.py SCRIPT.py`.

Imports the script, constructs the class named like the file (capitalised)
with the launch body plus job_id and _pulzar_config, calls execute() and
reports on the channel fd (PMZ_CHANNEL_FD) as JSON lines: {"t": "log"},
{"t": "output"} from CoreJobs, then exactly one {"t": "result", "ok", "error"}.
Every way a script can go wrong ends in a result: pmz never leaves a job
pending (pulzar-api.md section 7, the bugs).
"""
import importlib.util
import json
import os
import sys
import traceback


def describe(err):
    return '{}: {}'.format(type(err).__name__, err)


def main():
    channel = os.fdopen(int(os.environ.get('PMZ_CHANNEL_FD', '3')), 'w', encoding='utf-8')

    def emit(message):
        channel.write(json.dumps(message, default=str) + '\n')
        channel.flush()

    def finish(ok, error=None):
        emit({'t': 'result', 'ok': ok, 'error': error})
        channel.close()
        sys.stdout.flush()
        sys.exit(0 if ok else 1)

    from pulzarcore import core_jobs
    core_jobs._emit = emit

    path = os.path.abspath(sys.argv[1])
    try:
        args = json.loads(os.environ.get('PMZ_ARGS') or '{}')
    except ValueError as err:
        finish(False, 'arguments are not JSON: {}'.format(err))
    if not isinstance(args, dict):
        finish(False, 'a Pulzar job takes a JSON object as its arguments')
    params = dict(args)
    job_id = os.environ.get('PMZ_JOB_ID', '0')
    params['job_id'] = int(job_id) if job_id.isdigit() else job_id
    params['_pulzar_config'] = {'scheduled': os.environ.get('PMZ_SCHEDULED') == '1'}

    name = os.path.splitext(os.path.basename(path))[0]
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException as err:
        traceback.print_exc()
        finish(False, 'import failed: ' + describe(err))

    class_name = name.capitalize()
    cls = getattr(module, class_name, None) or getattr(module, name[:1].upper() + name[1:], None)
    if not isinstance(cls, type):
        finish(False, 'no class {} in {}'.format(class_name, os.path.basename(path)))
    try:
        job = cls(params)
    except Exception as err:
        traceback.print_exc()
        finish(False, 'constructor failed: ' + describe(err))
    try:
        result = job.execute()
    except Exception as err:
        traceback.print_exc()
        finish(False, 'execute() raised: ' + describe(err))
    if result is None:
        finish(False, 'execute() returned None; it must return the success check (self.is_the_job_ok())')
    if not result:
        errors = [line for line in getattr(job, '_log', []) if str(line).startswith('PULZAR_ERROR::')]
        finish(False, errors[-1] if errors else 'execute() returned {!r}'.format(result))
    finish(True)


if __name__ == '__main__':
    main()
