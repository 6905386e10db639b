-- The serving API logs every prediction with the request it answered and the family it served.
alter table mlops.predictions add column if not exists request_id varchar(64);
alter table mlops.predictions add column if not exists family varchar(255);

create index if not exists predictions_request on mlops.predictions (request_id);
