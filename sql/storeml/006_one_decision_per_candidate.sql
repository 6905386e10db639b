-- Every candidate (MLflow run, i.e. model version) gets exactly one promotion decision.
-- Decisions recorded twice before this rule existed stay in the history, marked as duplicates of
-- the first decision of their candidate; the unique index covers every other row.

alter table mlops.retraining_decisions
    add column if not exists duplicate_of integer references mlops.retraining_decisions (id);

comment on column mlops.retraining_decisions.duplicate_of is
    'Set only on decisions recorded before one decision per candidate was enforced: the first decision of the same candidate';

update mlops.retraining_decisions as later
set duplicate_of = (
    select min(first.id) from mlops.retraining_decisions as first
    where first.candidate_mlflow_run_id = later.candidate_mlflow_run_id
)
where later.candidate_mlflow_run_id is not null
    and later.duplicate_of is null
    and later.id > (
        select min(first.id) from mlops.retraining_decisions as first
        where first.candidate_mlflow_run_id = later.candidate_mlflow_run_id
    );

create unique index if not exists retraining_decisions_one_per_candidate
    on mlops.retraining_decisions (candidate_mlflow_run_id)
    where candidate_mlflow_run_id is not null and duplicate_of is null;
