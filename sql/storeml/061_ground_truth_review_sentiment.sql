-- Planted truth of the simulated review text: the oracle of the review-sentiment family.
-- Each review's text is written from text_sentiment, which equals rating_class except for a planted
-- share of disagreeing texts; oracle_p_* = P(rating class | text sentiment) of the simulation.
create table if not exists ground_truth.review_sentiment (
    review_id bigint primary key,
    rating_class text not null check (rating_class in ('negative', 'neutral', 'positive')),
    text_sentiment text not null check (text_sentiment in ('negative', 'neutral', 'positive')),
    disagrees boolean not null,
    category text not null,
    mixed boolean not null,
    negated boolean not null,
    typos integer not null,
    mobile_style boolean not null,
    oracle_p_negative double precision not null,
    oracle_p_neutral double precision not null,
    oracle_p_positive double precision not null,
    created_at timestamptz not null default now()
);
