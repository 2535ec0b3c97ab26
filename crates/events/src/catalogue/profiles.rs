//! The event types of the profile service (docs/profiles.md): `profiles.*`.

use uuid::Uuid;

event_types! {
    producer: "profiles";

    ProfileUpdated {
        name: "profiles.profile.updated",
        version: 1,
        secret: false,
        description: "A user changed their profile (name, bio, links, privacy). Audience: the user (other services refresh cached cards).",
        data: {
            user_id: Uuid = "string (uuid): whose profile",
            fields: Vec<String> = "array of strings: the columns that changed",
        }
    }

    FollowCreated {
        name: "profiles.follow.created",
        version: 1,
        secret: false,
        description: "A user followed a public account. Audience: the followed user (new follower).",
        data: {
            follower_id: Uuid = "string (uuid)",
            followee_id: Uuid = "string (uuid)",
        }
    }

    FollowRequestCreated {
        name: "profiles.follow_request.created",
        version: 1,
        secret: false,
        description: "A user asked to follow a private account. Audience: the private account's owner.",
        data: {
            requester_id: Uuid = "string (uuid)",
            target_id: Uuid = "string (uuid): the private account",
        }
    }

    FollowRequestApproved {
        name: "profiles.follow_request.approved",
        version: 1,
        secret: false,
        description: "A private account approved a follow request; the follow now exists. Audience: the requester.",
        data: {
            requester_id: Uuid = "string (uuid)",
            target_id: Uuid = "string (uuid): the private account",
        }
    }

    BlockCreated {
        name: "profiles.block.created",
        version: 1,
        secret: false,
        description: "A user blocked another: follows both ways are gone and each is hidden from the other; services drop cached content between them. Audience: the blocker only (the blocked user is never told).",
        data: {
            blocker_id: Uuid = "string (uuid)",
            blocked_id: Uuid = "string (uuid)",
            created_at: String = "string: RFC 3339 time",
        }
    }

    MentionCreated {
        name: "profiles.mention.created",
        version: 1,
        secret: false,
        description: "A user @mentioned another in their bio (a mention new to the bio, of someone neither blocked nor blocking; at most 10 per bio). Consumed by the notifier. Audience: the mentioned user.",
        data: {
            mentioned_id: Uuid = "string (uuid)",
            mentioner_id: Uuid = "string (uuid)",
            context: String = "string: bio",
        }
    }

    FollowDeleted {
        name: "profiles.follow.deleted",
        version: 1,
        secret: false,
        description: "A follow ended: the follower unfollowed, the followed user removed the follower, or one blocked the other. Feeds and message caches drop what the follow let through. Audience: none (services only; nobody is told).",
        data: {
            follower_id: Uuid = "string (uuid)",
            followee_id: Uuid = "string (uuid)",
            reason: String = "string: unfollowed, removed or blocked",
        }
    }

    BlockDeleted {
        name: "profiles.block.deleted",
        version: 1,
        secret: false,
        description: "A user unblocked another: each may see the other again (follows are not restored). Audience: none (services only; the unblocked user is never told).",
        data: {
            blocker_id: Uuid = "string (uuid)",
            blocked_id: Uuid = "string (uuid)",
        }
    }

    VerificationChanged {
        name: "profiles.verification.changed",
        version: 1,
        secret: false,
        description: "An operator changed a user's verification level (identity or business granted, or dropped back to what the contact points give). Audience: the user.",
        data: {
            user_id: Uuid = "string (uuid)",
            previous_level: String = "string: none, contact, identity or business",
            level: String = "string: the new effective level",
        }
    }
}
