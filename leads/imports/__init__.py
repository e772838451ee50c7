"""CSV import of leads (名刺 from exhibitions, Excel lists).

The flow: ``import_job_create`` keeps an uploaded file as a pending
ImportJob; the mapping page offers ``mapping_initial`` (remembered per set of
headers, else suggested from Japanese and English header names) and shows
``import_preview``; ``import_job_start`` fixes the mapping and runs the job,
in the request for small files and in the ``leads.tasks.import_run`` Celery
task for large ones; ``import_job_progress`` feeds the progress bar and
``rejected_rows_csv`` gives back the rows that were not imported, with why.

Modules: ``files`` (encoding, delimiter, records), ``mapping`` (targets,
suggestions, remembered mappings), ``rows`` (a row to a lead payload),
``services`` (writes), ``selectors`` (reads).
"""
