# The run explorer's texts in English. Every key here is also in
# locales/es/ui.ftl (a unit test holds them alike).
app-name = dagtrail
nav-fleet = DAGs
nav-signout = Sign out
nav-api-docs = API docs
lang-switch = Español
copy-button = Copy
copied = Copied
copy-link = Link to this view

signin-title = Sign in
signin-intro = Paste a bearer token (a JWT, as the API takes). Its company is the tenant you will see.
signin-token = Token
signin-submit = Sign in
signin-refused = This token was not accepted
signin-missing = Paste a token first.
signin-ended = Your session ended: sign in again.
signin-proxy = Behind a single sign-on proxy that sends the token with every request, you need not sign in here.

fleet-title = DAGs
fleet-empty = No DAGs yet: this company has no runs nor catalog entries.
fleet-filter-name = Name contains
fleet-filter-tag = Tag
fleet-sort = Sort by
fleet-sort-name = name
fleet-sort-last = last run
fleet-sort-failures = failures
fleet-sort-last-failure = most recent failure
fleet-apply = Apply
fleet-col-dag = DAG
fleet-col-last = Last run
fleet-col-phases = Phases
fleet-col-day = Failed runs, last day
fleet-col-week = Failed runs, last 7 days
fleet-col-reason = Last failure
fleet-runs-of = { $runs_n ->
    [one] { $runs } run
   *[other] { $runs } runs
}

status-success = succeeded
status-failed = failed
status-running = running
status-pending = pending
status-absent = not run
status-all = any

runs-title = Runs of { $dag }
runs-owner = Owner: { $owner }
runs-unknown-dag = This company has no DAG with this id: check the link.
runs-date-from = From
runs-date-to = To
runs-status = Run status
runs-phase-status = { $phase } status
runs-keyword = { $phase } keyword
runs-run-ids = Run ids (comma-separated)
runs-created-from = First recorded from
runs-created-to = First recorded before
runs-updated-since = Changed since
runs-per-page = Runs per page
runs-sort = Order
runs-sort-date-desc = newest date first
runs-sort-date-asc = oldest date first
runs-sort-created-desc = newest created first
runs-sort-created-asc = oldest created first
runs-sort-duration-desc = longest first
runs-sort-duration-asc = shortest first
runs-search = Search
runs-reset = Clear filters
runs-keyword-help = A run keyword searches, in each phase, its status, message and first 100 data rows (case-insensitive, literal). To search every row of a phase, open it and use its data search.
runs-none = No runs match these filters in this date range.
runs-total = { $total_n ->
    [one] { $total } run
   *[other] { $total } runs
}
runs-total-more = more than { $total } runs
runs-col-run = Run
runs-col-date = Date
runs-col-created = Created
runs-col-duration = Duration
runs-deep = deep search
runs-durations = Each run's phases, from its own start: the longer a bar, the longer the phase took
runs-matched-message = the keyword is in its message, not its rows
runs-next = Next page
runs-first = First page
runs-calendar = Runs per day
runs-calendar-day = { $date }: { $runs_n ->
    [one] { $runs } run
   *[other] { $runs } runs
}, { $failed } failed
runs-skip-calendar = Skip the calendar, to the filters and runs

run-title = Run { $run }
run-timeline = Phases
run-col-phase = Phase
run-col-attempt = Attempt
run-col-status = Status
run-col-started = Started
run-col-finished = Finished
run-col-duration = Duration
run-col-message = Message
run-event = Event
run-queue-data = Trigger message (queue_data)
run-event-data = Processed event (event)
run-no-event = This run has no event files.
run-open-phase = open

phase-title = { $phase } of run { $run }
phase-attempt = Attempt
phase-tab-data = Data
phase-tab-errors = Errors
phase-tab-logs = Logs
phase-running = This attempt has not committed yet (no metadata.parquet): it may still be running. This page refreshes every 5 seconds.
phase-rows = { $rows_n ->
    [one] { $rows } row
   *[other] { $rows } rows
}
phase-page = Page
phase-go = Go
phase-row = Row
phase-prev = Previous
phase-next = Next
phase-keyword = Search every row
phase-matches = { $total_n ->
    [one] { $total } matching row
   *[other] { $total } matching rows
}
phase-show-types = Show column types
phase-hit-open = Open this row in the whole data
phase-no-rows = No rows.
phase-expand = expand
error-traceback = Traceback
error-row = The data row
error-open-row = open in Data
logs-level = Level
logs-keyword = Keyword
logs-filter = Filter
logs-download-all = Download the whole log (NDJSON)
logs-download-filtered = Download the filtered log (NDJSON)

error-title = Something went wrong
error-back = Back to the DAGs
cell-cut = { $count_n ->
    [one] { $count } more character
   *[other] { $count } more characters
}: the whole value is in the API
cross-site-title = Refused: sent from another site
cross-site = This form was sent by a page of another site. Sign in (or out) from dagtrail's own pages.
signin-write-token = This token can write runs (its scope holds runs:write): it belongs to a pipeline, not a browser. Sign in with a token without it; reading needs no scope.
